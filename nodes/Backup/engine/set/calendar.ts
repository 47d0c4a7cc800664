/**
 * Calendar retention (restic's `forget --keep-*` rules), pure: which of a list of backups the
 * calendar rules keep, and by which rule. Chains are retention.ts's business; this file only sees
 * backup ids and their times.
 */

/** A `keepWithin` duration: restic's years, months, days and hours, plus weeks (7 days). */
export interface RetentionDuration {
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
}

/** The calendar rules; a count of 0 (and a null duration) is no rule. */
export interface CalendarRules {
  keepLast: number;
  keepHourly: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  keepYearly: number;
  keepWithin: RetentionDuration | null;
  /** IANA name (`Europe/Berlin`) the periods are counted in; `UTC` by default. */
  timeZone: string;
}

const UNITS = { y: 'years', m: 'months', w: 'weeks', d: 'days', h: 'hours' } as const;
type Unit = keyof typeof UNITS;

/**
 * `30d`, `2w`, `1y2m`, `2y5m7d3h` (restic's syntax; `w` added for weeks). Each unit at most once;
 * null when the text is not a duration. All parts 0 is a duration that keeps nothing by itself.
 */
export function parseDuration(text: string): RetentionDuration | null {
  const trimmed = text.trim();
  if (!/^(\d{1,6}[ymwdh])+$/i.test(trimmed)) return null;
  const d: RetentionDuration = { years: 0, months: 0, weeks: 0, days: 0, hours: 0 };
  const seen = new Set<Unit>();
  for (const [, n, u] of trimmed.toLowerCase().matchAll(/(\d+)([ymwdh])/g)) {
    const unit = u as Unit;
    if (seen.has(unit)) return null;
    seen.add(unit);
    d[UNITS[unit]] = Number(n);
  }
  return d;
}

/** The duration as written back, units in order (`1y2m`, `30d`); `0h` for all zero. */
export function formatDuration(d: RetentionDuration): string {
  const text = (Object.entries(UNITS) as [Unit, keyof RetentionDuration][])
    .filter(([, key]) => d[key] > 0)
    .map(([unit, key]) => `${d[key]}${unit}`)
    .join('');
  return text === '' ? '0h' : text;
}

export function isZeroDuration(d: RetentionDuration): boolean {
  return d.years === 0 && d.months === 0 && d.weeks === 0 && d.days === 0 && d.hours === 0;
}

/** True when the runtime knows the IANA time zone name (Intl is the only source used). */
export function isTimeZone(name: string): boolean {
  // The default: known without starting ICU's time zone data (tens of ms at every CLI start).
  if (name === 'UTC') return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return name.trim() !== '';
  } catch {
    return false;
  }
}

/** True when any calendar rule would keep something. */
export function hasCalendarRules(r: CalendarRules): boolean {
  return r.keepLast + r.keepHourly + r.keepDaily + r.keepWeekly + r.keepMonthly + r.keepYearly > 0 || (r.keepWithin !== null && !isZeroDuration(r.keepWithin));
}

export interface WallClock {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall-clock time of an instant in a time zone. */
export function wallClock(instant: Date, timeZone: string): WallClock {
  const parts: Record<string, number> = {};
  for (const p of formatterFor(timeZone).formatToParts(instant)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { year: parts.year, month: parts.month, day: parts.day, hour: parts.hour % 24, minute: parts.minute, second: parts.second, ms: instant.getUTCMilliseconds() };
}

const asUtc = (w: WallClock): number => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second, w.ms);

/** The instant a wall-clock time names in a zone (two passes settle the offset across a DST change). */
export function instantOf(w: WallClock, timeZone: string): number {
  const local = asUtc(w);
  let guess = local;
  for (let i = 0; i < 2; i++) guess = local - (asUtc(wallClock(new Date(guess), timeZone)) - guess);
  return guess;
}

/** ISO 8601 week (Monday to Sunday) as year*100 + week, as Go's ISOWeek that restic uses. */
function isoWeek(year: number, month: number, day: number): number {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = (date.getUTCDay() + 6) % 7; // Monday = 0
  date.setUTCDate(date.getUTCDate() - weekday + 3); // the Thursday of this week decides its year
  const weekYear = date.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(weekYear, 0, 4));
  firstThursday.setUTCDate(firstThursday.getUTCDate() - ((firstThursday.getUTCDay() + 6) % 7) + 3);
  return weekYear * 100 + 1 + Math.round((date.getTime() - firstThursday.getTime()) / (7 * 86_400_000));
}

/** `YYYYMMDDTHHMMSSmmmZ` at the start of a backup id: its start time (UTC). */
export function idTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(id);
  if (m === null) throw new Error(`not a backup id: ${id}`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]));
}

type Period = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';
const PERIODS: readonly { period: Period; rule: keyof CalendarRules }[] = [
  { period: 'last', rule: 'keepLast' },
  { period: 'hourly', rule: 'keepHourly' },
  { period: 'daily', rule: 'keepDaily' },
  { period: 'weekly', rule: 'keepWeekly' },
  { period: 'monthly', rule: 'keepMonthly' },
  { period: 'yearly', rule: 'keepYearly' },
];

function periodKey(period: Period, w: WallClock, index: number): number {
  switch (period) {
    case 'last':
      return index; // every backup is its own period
    case 'hourly':
      return ((w.year * 100 + w.month) * 100 + w.day) * 100 + w.hour;
    case 'daily':
      return (w.year * 100 + w.month) * 100 + w.day;
    case 'weekly':
      return isoWeek(w.year, w.month, w.day);
    case 'monthly':
      return w.year * 100 + w.month;
    case 'yearly':
      return w.year;
  }
}

/** The start of the `keepWithin` window: the latest time minus the duration, calendar parts in the zone (Go's AddDate). */
function withinStart(latest: Date, d: RetentionDuration, timeZone: string): number {
  const w = wallClock(latest, timeZone);
  const shifted = new Date(Date.UTC(w.year - d.years, w.month - 1 - d.months, w.day - d.days - 7 * d.weeks, w.hour, w.minute, w.second, w.ms));
  const back: WallClock = {
    year: shifted.getUTCFullYear(), month: shifted.getUTCMonth() + 1, day: shifted.getUTCDate(),
    hour: shifted.getUTCHours(), minute: shifted.getUTCMinutes(), second: shifted.getUTCSeconds(), ms: shifted.getUTCMilliseconds(),
  };
  return instantOf(back, timeZone) - d.hours * 3_600_000;
}

/**
 * Restic's ApplyPolicy for one group: newest first, each rule with N counts the newest backup of
 * each of the N most recent periods that have one (`daily #1` is the newest day); when a rule still
 * has counts left at the oldest backup, that one is kept too (`oldest daily`, as restic 0.17 does).
 * keepWithin keeps every backup after the latest one (not in the future) minus the duration; backups
 * dated after `now` never set "latest" (restic's guard against a wrong clock). Returns id -> rules.
 */
export function applyCalendarRules(ids: readonly string[], rules: CalendarRules, now: Date): Map<string, string[]> {
  const kept = new Map<string, string[]>();
  const list = [...ids].sort().reverse();
  if (list.length === 0) return kept;
  const times = list.map(idTime);
  const walls = times.map((t) => wallClock(t, rules.timeZone));
  const keep = (id: string, label: string): void => {
    kept.set(id, [...(kept.get(id) ?? []), label]);
  };
  if (rules.keepWithin !== null && !isZeroDuration(rules.keepWithin)) {
    const past = times.filter((t) => t.getTime() < now.getTime());
    const latest = past.length > 0 ? past[0] : new Date(0);
    const start = withinStart(latest, rules.keepWithin, rules.timeZone);
    const label = `within ${formatDuration(rules.keepWithin)}`;
    list.forEach((id, i) => {
      if (times[i].getTime() > start) keep(id, label);
    });
  }
  for (const { period, rule } of PERIODS) {
    let left = rules[rule] as number;
    if (left <= 0) continue;
    let last: number | undefined;
    let counted = 0;
    for (let i = 0; i < list.length && left > 0; i++) {
      const key = periodKey(period, walls[i], i);
      const isOldest = i === list.length - 1;
      if (key !== last) {
        keep(list[i], `${period} #${++counted}`);
        last = key;
        left--;
      } else if (isOldest) {
        keep(list[i], `oldest ${period}`);
        left--;
      }
    }
  }
  return kept;
}
