/**
 * Calendar retention (restic's forget --keep-* rules) on top of the per-type counts: table tests,
 * restic's documented examples first, then time zones, ISO weeks, keepWithin and chains.
 */
import type { CalendarRules } from '../../nodes/Backup/engine/set/calendar';
import { formatDuration, parseDuration } from '../../nodes/Backup/engine/set/calendar';
import type { RetentionPolicy } from '../../nodes/Backup/engine/set/retention';
import { applyRetention } from '../../nodes/Backup/engine/set/retention';
import { toRetentionPolicy } from '../../nodes/Backup/engine/settings';
import type { BackupSummary, BackupType } from '../../nodes/Backup/engine/types';

const TYPES: Record<string, BackupType> = { F: 'full', D: 'differential', I: 'incremental' };

function idAt(iso: string, type: BackupType): string {
  return `${new Date(iso).toISOString().replace(/[-:.]/g, '')}-${type}`;
}

/**
 * A set from `[time, kind]` pairs, oldest first; kind F, D or I. Incrementals reference every
 * earlier member of their chain, a differential its full, as real backups of a changing tree do.
 */
function setAt(entries: [string, string][], incomplete: string[] = []): BackupSummary[] {
  const out: BackupSummary[] = [];
  let full: BackupSummary | undefined;
  for (const [iso, kind] of entries) {
    const type = TYPES[kind];
    const chain = full === undefined ? [] : out.filter((b) => b.backupId === full?.backupId || b.base === full?.backupId);
    const zero = { scanned: 0, added: 0, changed: 0, deleted: 0, unchanged: 0, stored: 0 };
    const b: BackupSummary = {
      backupId: idAt(iso, type), set: 's', source: '/s', type, base: type === 'full' ? null : (full?.backupId ?? null),
      parent: type === 'full' ? null : type === 'differential' ? (full?.backupId ?? null) : (chain[chain.length - 1]?.backupId ?? null),
      storage: 'folder', startedAt: iso, finishedAt: iso, files: zero, bytes: { scanned: 0, stored: 0, written: 0 }, errorCount: 0,
      complete: !incomplete.includes(iso),
      references: type === 'full' ? [] : type === 'differential' ? [full?.backupId as string] : chain.map((c) => c.backupId),
    };
    out.push(b);
    if (type === 'full') full = b;
  }
  return out;
}

const fulls = (isos: string[]): BackupSummary[] => setAt(isos.map((iso) => [iso, 'F']));

function calendar(rules: Partial<Omit<CalendarRules, 'keepWithin'>> & { within?: string }): RetentionPolicy {
  return toRetentionPolicy({ ...rules, keepWithin: rules.within });
}

/** The kept ids as ISO times (without milliseconds), oldest first. */
function keptTimes(r: { keep: string[] }): string[] {
  return r.keep.map((id) => `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)} ${id.slice(9, 11)}:${id.slice(11, 13)}`);
}

const NOW = new Date('2030-01-01T00:00:00Z');

describe('restic documented examples', () => {
  // restic docs, "Removing snapshots according to a policy": one backup every Sunday for 12 weeks.
  const sundays = ['2019-09-01', '2019-09-08', '2019-09-15', '2019-09-22', '2019-09-29', '2019-10-06', '2019-10-13', '2019-10-20', '2019-10-27', '2019-11-03', '2019-11-10', '2019-11-17'].map(
    (d) => `${d}T11:00:00Z`,
  );

  test('forget --keep-daily 4 keeps the last four Sundays and removes the other eight', () => {
    const r = applyRetention(fulls(sundays), calendar({ keepDaily: 4 }), NOW);
    expect(keptTimes(r)).toEqual(['2019-10-27 11:00', '2019-11-03 11:00', '2019-11-10 11:00', '2019-11-17 11:00']);
    expect(r.remove).toHaveLength(8);
    expect(r.rules[r.keep[3]]).toEqual(['daily #1']);
    expect(r.rules[r.keep[0]]).toEqual(['daily #4']);
    expect(r.reasons[r.keep[0]]).toBe('daily #4');
  });

  test('the results are ORed: the newest Sunday matches hourly, daily and weekly', () => {
    const r = applyRetention(fulls(sundays), calendar({ keepHourly: 1, keepDaily: 1, keepWeekly: 1 }), NOW);
    expect(r.keep).toHaveLength(1);
    expect(r.rules[r.keep[0]]).toEqual(['hourly #1', 'daily #1', 'weekly #1']);
  });

  test('daily backups for years: --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 75', () => {
    // One backup a day at noon, 2020-01-01 to 2022-12-31 (a Saturday).
    const days: string[] = [];
    for (let t = Date.UTC(2020, 0, 1, 12); t <= Date.UTC(2022, 11, 31, 12); t += 86_400_000) days.push(new Date(t).toISOString());
    const r = applyRetention(fulls(days), calendar({ keepDaily: 7, keepWeekly: 5, keepMonthly: 12, keepYearly: 75 }), NOW);
    const kept = keptTimes(r).map((t) => t.slice(0, 10));
    // 7 dailies (Dec 25-31); weeks: Dec 31 and Dec 25 (a Sunday) are dailies already, then the Sundays Dec 18, 11, 4;
    // months: Dec 31 is a daily, then the last day of Jan-Nov 2022; years: 2022 is taken, then Dec 31 of 2021 and 2020;
    // yearly still has counts left at the oldest backup, so restic keeps that one too ("oldest yearly").
    const months = ['01-31', '02-28', '03-31', '04-30', '05-31', '06-30', '07-31', '08-31', '09-30', '10-31', '11-30'].map((d) => `2022-${d}`);
    const expected = ['2020-01-01', '2020-12-31', '2021-12-31', ...months, '2022-12-04', '2022-12-11', '2022-12-18', '2022-12-25', '2022-12-26', '2022-12-27', '2022-12-28', '2022-12-29', '2022-12-30', '2022-12-31'];
    expect(kept).toEqual(expected);
    const ruleOf = (day: string): string[] => r.rules[r.keep[kept.indexOf(day)]];
    expect(ruleOf('2022-12-31')).toEqual(['daily #1', 'weekly #1', 'monthly #1', 'yearly #1']);
    expect(ruleOf('2022-12-25')).toEqual(['daily #7', 'weekly #2']);
    expect(ruleOf('2022-12-04')).toEqual(['weekly #5']);
    expect(ruleOf('2022-01-31')).toEqual(['monthly #12']);
    expect(ruleOf('2020-12-31')).toEqual(['yearly #3']);
    expect(ruleOf('2020-01-01')).toEqual(['oldest yearly']);
    expect(r.remove).toHaveLength(days.length - expected.length);
  });

  test('--keep-last n keeps the n most recent', () => {
    const r = applyRetention(fulls(sundays), calendar({ keepLast: 3 }), NOW);
    expect(keptTimes(r)).toEqual(['2019-11-03 11:00', '2019-11-10 11:00', '2019-11-17 11:00']);
    expect(r.rules[r.keep[2]]).toEqual(['last #1']);
  });

  test('--keep-within 2y5m7d3h keeps what was made in that long before the latest backup', () => {
    const set = fulls(['2017-01-01T00:00:00Z', '2017-06-08T08:59:59Z', '2017-06-08T09:00:00Z', '2017-06-08T09:00:01Z', '2019-11-15T12:00:00Z']);
    const r = applyRetention(set, calendar({ within: '2y5m7d3h' }), NOW);
    // 2019-11-15 12:00 minus 2 years, 5 months, 7 days = 2017-06-08 12:00, minus 3 hours = 09:00: strictly after is kept.
    expect(r.keep.map((id) => id.slice(0, 15))).toEqual(['20170608T090001', '20191115T120000']);
    expect(r.rules[r.keep[0]]).toEqual(['within 2y5m7d3h']);
  });

  test('when counts are left, the oldest backup is kept too, marked "oldest"', () => {
    const r = applyRetention(fulls(['2026-01-01T01:00:00Z', '2026-01-01T02:00:00Z', '2026-01-02T01:00:00Z']), calendar({ keepDaily: 5 }), NOW);
    expect(r.keep).toHaveLength(3);
    expect(r.rules[r.keep[0]]).toEqual(['oldest daily']);
    expect(r.rules[r.keep[1]]).toEqual(['daily #2']);
  });
});

describe('periods', () => {
  test.each([
    // [name, times, rules, kept]
    ['days in UTC by default', ['2026-03-09T12:00:00Z', '2026-03-10T23:30:00Z', '2026-03-11T00:30:00Z'], { keepDaily: 2 }, ['2026-03-10 23:30', '2026-03-11 00:30']],
    ['days in Europe/Berlin: 23:30 UTC is the next day there', ['2026-03-09T12:00:00Z', '2026-03-10T23:30:00Z', '2026-03-11T00:30:00Z'], { keepDaily: 2, timeZone: 'Europe/Berlin' }, ['2026-03-09 12:00', '2026-03-11 00:30']],
    ['days in America/New_York: 00:30 UTC is the evening before', ['2026-03-09T12:00:00Z', '2026-03-10T12:00:00Z', '2026-03-11T00:30:00Z'], { keepDaily: 1, timeZone: 'America/New_York' }, ['2026-03-11 00:30']],
    ['weeks run Monday to Sunday', ['2026-01-04T12:00:00Z', '2026-01-05T12:00:00Z', '2026-01-06T12:00:00Z', '2026-01-07T12:00:00Z'], { keepWeekly: 2 }, ['2026-01-04 12:00', '2026-01-07 12:00']],
    ['ISO week 53 spans the new year', ['2020-12-30T12:00:00Z', '2020-12-31T12:00:00Z', '2021-01-03T12:00:00Z', '2021-01-04T12:00:00Z'], { keepWeekly: 2 }, ['2021-01-03 12:00', '2021-01-04 12:00']],
    ['hours', ['2026-05-01T10:05:00Z', '2026-05-01T10:55:00Z', '2026-05-01T11:10:00Z', '2026-05-01T11:20:00Z'], { keepHourly: 2 }, ['2026-05-01 10:55', '2026-05-01 11:20']],
    ['months count only months that have a backup', ['2025-10-15T00:00:00Z', '2025-11-15T00:00:00Z', '2026-02-01T00:00:00Z', '2026-02-20T00:00:00Z'], { keepMonthly: 2 }, ['2025-11-15 00:00', '2026-02-20 00:00']],
    ['years', ['2024-06-01T00:00:00Z', '2024-12-01T00:00:00Z', '2025-03-01T00:00:00Z', '2026-01-01T00:00:00Z'], { keepYearly: 2 }, ['2025-03-01 00:00', '2026-01-01 00:00']],
    ['a new year in Asia/Tokyo comes 9 hours before UTC', ['2025-06-01T00:00:00Z', '2025-12-31T16:00:00Z'], { keepYearly: 1, timeZone: 'Asia/Tokyo' }, ['2025-12-31 16:00']],
    ['within 2w is 14 days', ['2026-05-01T00:00:00Z', '2026-05-18T00:00:00Z', '2026-05-18T00:01:00Z', '2026-06-01T00:00:00Z'], { within: '2w' }, ['2026-05-18 00:01', '2026-06-01 00:00']],
    ['within 1m from March 31 (Go AddDate: Feb 31 = Mar 3)', ['2026-03-02T00:00:00Z', '2026-03-03T00:00:00Z', '2026-03-03T00:00:01Z', '2026-03-31T00:00:00Z'], { within: '1m' }, ['2026-03-03 00:00', '2026-03-31 00:00']],
    ['within counts calendar days in the zone across a DST change', ['2026-03-28T11:30:00Z', '2026-03-28T12:30:00Z', '2026-03-30T11:00:00Z'], { within: '2d', timeZone: 'Europe/Berlin' }, ['2026-03-28 12:30', '2026-03-30 11:00']],
  ] as [string, string[], Parameters<typeof calendar>[0], string[]][])('%s', (_name, times, rules, kept) => {
    expect(keptTimes(applyRetention(fulls(times), calendar(rules), NOW))).toEqual(kept);
  });

  test('a backup dated in the future does not set "latest" for keepWithin, and stays', () => {
    const now = new Date('2026-06-01T00:00:00Z');
    const set = fulls(['2026-04-01T00:00:00Z', '2026-05-25T00:00:00Z', '2026-05-31T00:00:00Z', '2027-01-01T00:00:00Z']);
    const r = applyRetention(set, calendar({ within: '7d' }), now);
    expect(keptTimes(r)).toEqual(['2026-05-25 00:00', '2026-05-31 00:00', '2027-01-01 00:00']);
  });
});

describe('chains and the per-type counts', () => {
  // A full every Monday at 01:00, incrementals at 01:00 the other days, for three weeks.
  const weeks: [string, string][] = [];
  for (let day = 0; day < 21; day++) weeks.push([new Date(Date.UTC(2026, 0, 5 + day, 1)).toISOString(), day % 7 === 0 ? 'F' : 'I']);
  const set = setAt(weeks);
  const byDay = (r: { keep: string[] }): string[] => keptTimes(r).map((t) => t.slice(5, 10));

  test('a kept incremental keeps its full and every backup it points into, as references', () => {
    const r = applyRetention(set, calendar({ keepWeekly: 2 }), NOW);
    // Weekly keeps the Sundays Jan 25 and Jan 18: incrementals that need their week's Monday full and the days between.
    expect(byDay(r)).toEqual(['01-12', '01-13', '01-14', '01-15', '01-16', '01-17', '01-18', '01-19', '01-20', '01-21', '01-22', '01-23', '01-24', '01-25']);
    const monday = r.keep[0];
    expect(r.keptReferenced).toContain(monday);
    expect(r.rules[monday]).toContain(`reference of ${r.keep[6]}`);
    expect(r.reasons[monday]).toMatch(/^referenced by /);
    expect(r.rules[r.keep[6]]).toEqual(['weekly #2']);
    expect(r.remove).toHaveLength(7);
    // Removed newest first, so an interruption never leaves a kept backup pointing into a removed one.
    expect(r.remove[0] > r.remove[6]).toBe(true);
  });

  test('calendar rules add to the per-type counts: keepFull 1 plus keepDaily 9 reaches into the older chain', () => {
    const r = applyRetention(set, { ...calendar({ keepDaily: 9 }), keepFull: 1 }, NOW);
    // keepFull 1: the newest chain whole (Jan 19-25, incrementals all kept: keepIncremental 0 = all in kept chains);
    // daily 9 adds Jan 17 and 18, which need Jan 12-16 as references.
    expect(byDay(r)).toEqual(['01-12', '01-13', '01-14', '01-15', '01-16', '01-17', '01-18', '01-19', '01-20', '01-21', '01-22', '01-23', '01-24', '01-25']);
    expect(r.rules[r.keep[7]]).toEqual(['full #1', 'daily #7']);
    expect(r.reasons[r.keep[7]]).toBe('one of the newest 1 full backups; daily #7');
    expect(r.rules[r.keep[13]]).toEqual(['all incremental', 'daily #1']);
    expect(r.rules[r.keep[5]]).toEqual(['daily #9']);
  });

  test('without calendar rules the counts behave exactly as before, and say so in rules', () => {
    const r = applyRetention(set, { keepFull: 1, keepDifferential: 0, keepIncremental: 2 }, NOW);
    expect(byDay(r)).toEqual(['01-19', '01-20', '01-21', '01-22', '01-23', '01-24', '01-25']);
    expect(r.rules[r.keep[0]]).toEqual(['full #1']);
    expect(r.rules[r.keep[6]]).toEqual(['incremental #1']);
    // Every kept backup that points into it, newest first (reference-only ones included).
    expect(r.rules[r.keep[1]]).toEqual([6, 5, 4, 3, 2].map((i) => `reference of ${r.keep[i]}`));
    const all = applyRetention(set, { keepFull: 0, keepDifferential: 0, keepIncremental: 0 }, NOW);
    expect(all.remove).toEqual([]);
    expect(all.rules[all.keep[0]]).toEqual(['all full']);
  });

  test('an empty calendar (all 0, no duration) is no calendar: counts 0 still keep everything', () => {
    const r = applyRetention(set, calendar({ timeZone: 'Europe/Berlin', within: '0d' }), NOW);
    expect(r.remove).toEqual([]);
  });

  test('members of a chain whose full is damaged are left for inspection and take no period', () => {
    const broken = setAt(
      [['2026-01-01T01:00:00Z', 'F'], ['2026-01-02T01:00:00Z', 'F'], ['2026-01-03T01:00:00Z', 'I'], ['2026-01-04T01:00:00Z', 'F'], ['2026-01-05T01:00:00Z', 'I']],
      ['2026-01-04T01:00:00Z'],
    );
    const r = applyRetention(broken, calendar({ keepLast: 1 }), NOW);
    // The Jan 5 incremental cannot restore (its full is damaged): kept for a person, not counted;
    // keepLast 1 then keeps Jan 3, whose full Jan 2 stays as a reference; Jan 1 goes.
    expect(byDay(r)).toEqual(['01-02', '01-03', '01-05']);
    expect(r.rules[r.keep[2]]).toEqual(['left for inspection']);
    expect(r.rules[r.keep[1]]).toEqual(['last #1']);
    expect(byDay({ keep: r.remove })).toEqual(['01-01']);
  });

  test('differentials: a kept differential keeps only its full', () => {
    const s = setAt([['2026-02-01T00:00:00Z', 'F'], ['2026-02-02T00:00:00Z', 'D'], ['2026-02-03T00:00:00Z', 'D'], ['2026-02-04T00:00:00Z', 'D']]);
    const r = applyRetention(s, calendar({ keepLast: 1 }), NOW);
    expect(byDay(r)).toEqual(['02-01', '02-04']);
    expect(r.rules[r.keep[0]]).toEqual([`reference of ${r.keep[1]}`]);
  });

  test('never removes a backup a kept backup references, nor the newest (random calendar policies)', () => {
    for (let seed = 1; seed < 200; seed++) {
      let x = seed;
      const rnd = (n: number): number => {
        x = (x * 1103515245 + 12345) % 2147483648;
        return x % n;
      };
      const entries: [string, string][] = [];
      let t = Date.UTC(2025, 0, 1);
      for (let i = 0; i < 25; i++) {
        t += (1 + rnd(60)) * 3_600_000;
        entries.push([new Date(t).toISOString(), i === 0 ? 'F' : 'FDII'[rnd(4)]]);
      }
      const s = setAt(entries);
      const p = { ...calendar({ keepLast: rnd(3), keepHourly: rnd(3), keepDaily: rnd(4), keepWeekly: rnd(3), keepMonthly: rnd(2), within: rnd(2) === 0 ? '' : `${rnd(5)}d` }), keepFull: rnd(2) };
      const r = applyRetention(s, p, NOW);
      const kept = new Set(r.keep);
      for (const b of s) if (kept.has(b.backupId)) for (const ref of b.references ?? []) expect(kept.has(ref)).toBe(true);
      expect(kept.has(s[s.length - 1].backupId)).toBe(true);
      expect(r.keep.length + r.remove.length).toBe(s.length);
      for (const id of r.keep) expect(r.rules[id].length).toBeGreaterThan(0);
    }
  });
});

describe('durations and options', () => {
  test.each([
    ['30d', '30d'], ['2w', '2w'], ['1y2m', '1y2m'], ['2y5m7d3h', '2y5m7d3h'], ['3h1d', '1d3h'], ['12H', '12h'], [' 7d ', '7d'],
  ])('parses %s', (text, canonical) => {
    const d = parseDuration(text);
    expect(d).not.toBeNull();
    expect(formatDuration(d as NonNullable<typeof d>)).toBe(canonical);
  });

  test.each(['', '30', 'd', '1.5d', '-1d', '1d1d', '30 days', '1s', 'P30D'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeNull();
  });

  test('bad keepWithin, time zone or counts are INVALID_OPTION, with the accepted forms in the message', () => {
    expect(() => toRetentionPolicy({ keepWithin: '30 days' })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/30d, 2w, 1y2m/) }));
    expect(() => toRetentionPolicy({ timeZone: 'Mars/Olympus' })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/IANA/) }));
    expect(() => toRetentionPolicy({ keepDaily: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => toRetentionPolicy({ keepWeekly: 1.5 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(toRetentionPolicy({}).calendar).toEqual({ keepLast: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0, keepWithin: null, timeZone: 'UTC' });
    expect(toRetentionPolicy({ timeZone: ' Europe/Berlin ' }).calendar?.timeZone).toBe('Europe/Berlin');
  });
});
