/**
 * The Backup node inside a real n8n 2.x: workflows imported and executed with the n8n CLI.
 * Needs the n8n that `npm start` or scripts/install-n8n.sh installs (cached in N8N_TEST_HOME).
 * Without it the suite is skipped with a visible message, except in CI or with REQUIRE_N8N=1, where
 * it fails. An install that does not work (n8n cannot open its database) is one clear failure.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { BackupStep, N8nEnv, N8nRun } from '../helpers/n8n';
import { backupWorkflow, importCredentials, installPackage, N8N_HOME, N8N_VERSION, n8nInstallState, runWorkflow, stepsWorkflow } from '../helpers/n8n';
import { expectSameTree, snapshotTree } from '../helpers/tree';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Moto, Sshd } from '../helpers/servers';
import { motoUnavailable, sshdUnavailable, startMoto, startSshd } from '../helpers/servers';

const required = process.env.CI === 'true' || process.env.REQUIRE_N8N === '1';
const install = n8nInstallState();
const available = install.state === 'works';
if (install.state === 'missing' && !required) console.warn('SKIPPED n8n integration tests: n8n is not installed (run `npm start` once, or scripts/install-n8n.sh; or set N8N_TEST_HOME)');
const suite = available ? describe : describe.skip;

if (!available && (required || install.state === 'broken')) {
  // One failure that says what to do, instead of every test below failing on the same cause.
  test('n8n is installed and works (needed by the integration tests)', () => {
    // A broken install's reason already ends with what to run.
    if (install.state === 'broken') throw new Error(`the n8n in ${N8N_HOME} does not work:\n${install.reason}`);
    throw new Error(`n8n is not installed in ${N8N_HOME}: run \`npm start\` once, or \`bash scripts/install-n8n.sh\` (same N8N_TEST_HOME).`);
  });
}

jest.setTimeout(600_000);

suite(`the Backup node in a real n8n ${N8N_VERSION}`, () => {
  let root: string;
  let env: N8nEnv;
  let allowed: string;
  let src: string;
  let dest: string;

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-it-'));
    allowed = path.join(root, 'files');
    src = path.join(allowed, 'data');
    dest = path.join(allowed, 'backups');
    fs.mkdirSync(path.join(src, 'docs', 'empty'), { recursive: true });
    fs.writeFileSync(path.join(src, 'docs', 'report.txt'), 'quarterly numbers\n');
    fs.writeFileSync(path.join(src, 'notes.md'), '# notes\n');
    fs.symlinkSync('docs/report.txt', path.join(src, 'latest'));
    // n8n allows the user folder's parent too, so that this node's own rule about n8n's folder
    // (a destination or source that contains it) is what refuses it there, not n8n's allow list.
    const userFolder = path.join(root, 'home');
    env = { userFolder, allowed: [allowed, userFolder], brokerPort: 25_000 + (process.pid % 5000) };
    fs.mkdirSync(env.userFolder, { recursive: true });
    installPackage(env.userFolder);
  });

  afterAll(() => {
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
  });

  const run = (parameters: Record<string, unknown>, onError?: string): N8nRun => runWorkflow(env, backupWorkflow(parameters, { onError }));
  const ok = (r: N8nRun): void => {
    if (r.status !== 0) throw new Error(`n8n execute failed (${String(r.status)}): ${r.errorMessage ?? ''}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  };

  test('full, change, auto (incremental), list, restore equal to the source, verify', async () => {
    const full = run({ resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options: { setName: 'data' } });
    ok(full);
    const [f] = full.items('Backup');
    expect(f.json).toMatchObject({ source: src, set: 'data', type: 'full', skipped: false, errorCount: 0 });
    expect(f.json.summary).toMatch(/^Full backup of /);
    expect(f.pairedItem).toEqual({ item: 0 });
    // Issue 16: the summary is the first column n8n's Table view shows; local time beside UTC.
    expect(Object.keys(f.json)[0]).toBe('summary');
    expect(f.json).toMatchObject({ startedAtLocal: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /), timeZone: expect.any(String) });
    // Issue 16: files, folders and symlinks counted apart, in the same words as restore.
    expect(f.json).toMatchObject({ files: { scanned: 2, added: 2, stored: 2, links: 0 }, folders: { scanned: 2, added: 2 }, symlinks: { scanned: 1, added: 1 } });
    expect(f.json.summary).toContain(': 2 files, 2 folders, 1 symlink; files 2 added, ');
    // Issue 16: progress in n8n's own log (shown at the default level, info), so scheduled runs show it too.
    expect(`${full.stdout}\n${full.stderr}`).toMatch(new RegExp(`\\[Backup node "Backup", execution \\d+\\] Backup of ${src.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\d+ files?, \\d+ folders?, \\d+ symlinks?, .* scanned so far`));

    fs.writeFileSync(path.join(src, 'notes.md'), '# notes\nmore\n');
    fs.writeFileSync(path.join(src, 'docs', 'new.txt'), 'new\n');
    const auto = run({ resource: 'backup', operation: 'auto', sourcePaths: src, destinationPath: dest, options: { setName: 'data' } });
    ok(auto);
    const [a] = auto.items('Backup');
    expect(a.json).toMatchObject({ operation: 'auto', type: 'incremental', files: { added: 1, changed: 1, deleted: 0 } });
    expect(a.json.decision).toMatch(/^auto: incremental/);
    const again = run({ resource: 'backup', operation: 'auto', sourcePaths: src, destinationPath: dest, options: { setName: 'data' } });
    ok(again);
    expect(again.items('Backup')[0].json).toMatchObject({ skipped: true, type: null, decision: expect.stringMatching(new RegExp(`^skipped: no changes since ${String(a.json.backupId)} \\(`)) });

    const list = run({ resource: 'backupSet', operation: 'list', destinationPath: dest, setName: 'data' });
    ok(list);
    expect(list.items('Backup').map((i) => i.json.type)).toEqual(['full', 'incremental']);
    expect(list.items('Backup').map((i) => Object.keys(i.json)[0])).toEqual(['summary', 'summary']);

    const target = path.join(allowed, 'restored');
    const restore = run({ resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: 'data', backupId: 'latest', targetPath: target });
    ok(restore);
    expect(restore.items('Backup')[0].json).toMatchObject({ backupId: a.json.backupId, errorCount: 0 });
    expectSameTree(await snapshotTree(target), await snapshotTree(src));

    const verify = run({ resource: 'backupSet', operation: 'verify', destinationPath: dest, setName: 'data', backupId: 'all', fullVerify: true });
    ok(verify);
    expect(verify.items('Backup')[0].json).toMatchObject({ ok: true, problemCount: 0 });
    expect(Object.keys(verify.items('Backup')[0].json)[0]).toBe('summary');
  });

  test("the workflow's time zone reaches the items; changed labels in the hints; error items start with error", () => {
    const wf = stepsWorkflow([
      { name: 'Tokyo', parameters: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options: { setName: 'tz' } } },
      {
        name: 'NotEmpty', after: 'Tokyo', onError: 'continueRegularOutput',
        parameters: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: 'tz', targetPath: src },
      },
    ]);
    wf.settings = { ...(wf.settings as Record<string, unknown>), timezone: 'Asia/Tokyo' };
    const r = runWorkflow(env, wf);
    ok(r);
    const [item] = r.items('Tokyo');
    const tokyo = new Date(new Date(String(item.json.startedAt)).getTime() + 9 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
    expect(item.json).toMatchObject({ timeZone: 'Asia/Tokyo', startedAtLocal: `${tokyo} Asia/Tokyo` });
    expect(String(item.json.summary)).toContain('Asia/Tokyo');
    const [refused] = r.items('NotEmpty');
    expect(Object.keys(refused.json).slice(0, 3)).toEqual(['error', 'code', 'hint']);
    expect(refused.json).toMatchObject({ code: 'TARGET_NOT_EMPTY', hint: expect.stringContaining('"If Restore Into Is Not Empty"') });
  });

  test('the Nightly backup example imports and runs: a failed backup fails the execution without any credential', () => {
    const example = JSON.parse(fs.readFileSync(path.join(__dirname, '../../examples/nightly-backup.json'), 'utf8')) as { id: string; nodes: Record<string, unknown>[] };
    // `n8n execute` cannot start a Schedule Trigger: the same node, as a Manual Trigger.
    const prepared = (id: string, source: string): Record<string, unknown> => ({
      ...example,
      id,
      nodes: example.nodes.map((n) => {
        if (n.type === 'n8n-nodes-base.scheduleTrigger') return { ...n, type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, parameters: {} };
        if (n.name === 'Backup') return { ...n, parameters: { ...(n.parameters as object), sourcePaths: source, destinationPath: path.join(allowed, 'nightly') } };
        return n;
      }),
    });
    const good = runWorkflow(env, prepared('exNightlyGood01', src));
    ok(good);
    expect(good.executionStatus).toBe('success');
    expect(good.items('Backup')[0].json).toMatchObject({ type: 'full', errorCount: 0 });
    expect(good.items('Mark Execution Failed')).toEqual([]);

    const missing = path.join(allowed, 'not-mounted');
    const bad = runWorkflow(env, prepared('exNightlyBad001', missing));
    expect(bad.status).not.toBe(0);
    expect(bad.executionStatus).toBe('error');
    expect(bad.errorMessage).toBe(`Backup of ${missing} failed: ${String(bad.items('Backup')[0].json.error)} [SOURCE_MISSING] ${String(bad.items('Backup')[0].json.hint)}`);
  });

  test('the backup alert example: Status of a good set passes; a set with no backup fails the execution without any credential', () => {
    const example = JSON.parse(fs.readFileSync(path.join(__dirname, '../../examples/backup-alert.json'), 'utf8')) as { id: string; nodes: Record<string, unknown>[] };
    const made = run({ resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options: { setName: 'watched' } });
    ok(made);
    const prepared = (id: string, setName: string): Record<string, unknown> => ({
      ...example,
      id,
      nodes: example.nodes.map((n) => {
        if (n.type === 'n8n-nodes-base.scheduleTrigger') return { ...n, type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, parameters: {} };
        if (n.name === 'Backup Status') return { ...n, parameters: { ...(n.parameters as object), destinationPath: dest, setName } };
        return n;
      }),
    });
    const good = runWorkflow(env, prepared('exAlertGood0001', 'watched'));
    ok(good);
    expect(good.executionStatus).toBe('success');
    expect(good.items('Backup Status')[0].json).toMatchObject({
      ok: true, backupCount: 1, lastRunOutcome: 'success', newest: { backupId: made.items('Backup')[0].json.backupId }, health: { checked: true, ok: true },
    });
    expect(good.items('Mark Execution Failed')).toEqual([]);

    const bad = runWorkflow(env, prepared('exAlertBad00001', 'never-backed-up'));
    expect(bad.executionStatus).toBe('error');
    expect(bad.items('Backup Status')[0].json).toMatchObject({ ok: false, backupCount: 0, lastRunText: 'no run recorded' });
    expect(bad.errorMessage).toMatch(/^Set never-backed-up: NOT OK: no complete backup; last run no run recorded;/);
  });

  test('calendar retention: a Prune dry run names the rules, a Backup with Keep Last applies them', () => {
    const params = { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options: { setName: 'gfs' } };
    const ids = [0, 1, 2].map(() => {
      const r = run(params);
      ok(r);
      return String(r.items('Backup')[0].json.backupId);
    });
    const dry = run({ resource: 'backupSet', operation: 'prune', destinationPath: dest, setName: 'gfs', dryRun: true, calendarRetention: { keepDaily: 1, timeZone: 'Europe/Berlin' } });
    ok(dry);
    expect(dry.items('Backup')[0].json).toMatchObject({ dryRun: true, removed: [ids[1], ids[0]], kept: [ids[2]], rules: { [ids[2]]: ['daily #1'] } });
    const last = run({ ...params, calendarRetention: { keepLast: 1 } });
    ok(last);
    const made = last.items('Backup')[0].json;
    expect(made.retention).toEqual({ removed: [ids[2], ids[1], ids[0]], keptReferenced: [], kept: [made.backupId], rules: { [String(made.backupId)]: ['last #1'] } });
    expect(fs.readdirSync(path.join(dest, 'gfs')).filter((n) => !n.startsWith('.') && n !== 'last-run.json')).toEqual([made.backupId]);
  });

  test('Restore of one path as of an expression ($now, a DateTime) in Tokyo time; before the first backup: BACKUP_NOT_FOUND', () => {
    const target = path.join(allowed, 'restored-some');
    const set = { destinationPath: dest, setName: 'pick' };
    const wf = stepsWorkflow([
      { name: 'Pick', parameters: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options: { setName: 'pick' } } },
      { name: 'Some', after: 'Pick', parameters: { resource: 'backupSet', operation: 'restore', ...set, targetPath: target, asOf: '={{ $now }}', includePaths: 'docs/report.txt' } },
      {
        name: 'Early', after: 'Some', onError: 'continueRegularOutput',
        parameters: { resource: 'backupSet', operation: 'restore', ...set, targetPath: path.join(allowed, 'restored-early'), asOf: '2000-01-01T00:00:00' },
      },
    ]);
    wf.settings = { ...(wf.settings as Record<string, unknown>), timezone: 'Asia/Tokyo' };
    const r = runWorkflow(env, wf);
    ok(r);
    const made = r.items('Pick')[0].json;
    expect(r.items('Some')[0].json).toMatchObject({ backupId: made.backupId, files: { restored: 1 }, selection: { include: ['docs/report.txt'], exclude: [], unmatched: [] }, asOf: expect.any(String) });
    expect((fs.readdirSync(target, { recursive: true }) as string[]).sort()).toEqual(['docs', path.join('docs', 'report.txt')]);
    expect(r.items('Early')[0].json).toMatchObject({ code: 'BACKUP_NOT_FOUND', error: expect.stringContaining('1999-12-31T15:00:00.000Z') });
    expect(fs.existsSync(path.join(allowed, 'restored-early'))).toBe(false);
  });

  test('List Files with a Limit, Find File Versions, Restore to binary data, Compare Backups, a Dry Run: one item per path / version / file / change, summary first', () => {
    const set = { destinationPath: dest, setName: 'browse' };
    // A tree of its own, changed between two backups, for Compare Backups.
    const changing = path.join(allowed, 'data-changing');
    fs.mkdirSync(changing, { recursive: true });
    fs.writeFileSync(path.join(changing, 'a.txt'), 'first');
    const earlier = run({ resource: 'backup', operation: 'full', sourcePaths: changing, destinationPath: dest, options: { setName: 'changing' } });
    ok(earlier);
    fs.writeFileSync(path.join(changing, 'a.txt'), 'second, longer');
    const wf = stepsWorkflow([
      { name: 'Later', parameters: { resource: 'backup', operation: 'auto', sourcePaths: changing, destinationPath: dest, options: { setName: 'changing' } } },
      { name: 'Changes', after: 'Later', parameters: { resource: 'backupSet', operation: 'diff', destinationPath: dest, setName: 'changing', returnAll: true } },
      { name: 'Dry', after: 'Later', parameters: { resource: 'backup', operation: 'auto', sourcePaths: changing, destinationPath: dest, options: { setName: 'changing', dryRun: true } } },
      { name: 'First', parameters: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options: { setName: 'browse' } } },
      // Two paths match (report.txt before notes.md in walk order); the Limit stops after the first.
      { name: 'Files', after: 'First', parameters: { resource: 'backupSet', operation: 'listFiles', ...set, includePaths: 'report.txt\nnotes.md', limit: 1 } },
      { name: 'Versions', after: 'First', parameters: { resource: 'backupSet', operation: 'find', ...set, findPaths: 'docs/report.txt', returnAll: true } },
      { name: 'AsBinary', after: 'First', parameters: { resource: 'backupSet', operation: 'restore', ...set, restoreTo: 'binary', includePaths: 'docs/report.txt\nnotes.md' } },
    ]);
    const r = runWorkflow(env, wf);
    ok(r);
    const made = String(r.items('First')[0].json.backupId);
    expect(r.items('Files').map((i) => i.json.path)).toEqual(['docs/report.txt']);
    expect(Object.keys(r.items('Files')[0].json)[0]).toBe('summary');
    expect(r.items('Files')[0].json).toMatchObject({ backupId: made, kind: 'file', size: 18, in: made });
    expect(r.items('Versions').map((i) => i.json.summary)).toEqual([`docs/report.txt added in ${made}: 18 B`]);
    // n8n's own binary data: one item per file, the bytes in "data" (held in memory or on n8n's disk, as the instance is set up).
    const binaries = r.items('AsBinary');
    expect(binaries.map((i) => [i.json.path, i.binary?.data?.fileName, i.binary?.data?.mimeType])).toEqual([['docs/report.txt', 'report.txt', 'text/plain'], ['notes.md', 'notes.md', 'text/markdown']]);
    const data = binaries[0].binary?.data?.data;
    if (typeof data === 'string' && data !== 'filesystem-v2') expect(Buffer.from(data, 'base64').toString()).toBe('quarterly numbers\n');
    expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('n8n-backup-binary-'))).toEqual([]);
    expect(r.items('Changes').map((i) => i.json.summary)).toEqual(['changed: a.txt (+9 B)']);
    expect(r.items('Changes')[0].json).toMatchObject({ from: earlier.items('Backup')[0].json.backupId, to: r.items('Later')[0].json.backupId });
    expect(r.items('Dry')[0].json).toMatchObject({ dryRun: true, backupId: null, summary: expect.stringMatching(/^dry run: the backup of .* would be skipped: no changes/) });
  });

  test('the "Restore one file and e-mail it" example: the file as binary data for the e-mail; a wrong path fails the execution', () => {
    const made = run({ resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options: { setName: 'mail' } });
    ok(made);
    const example = JSON.parse(fs.readFileSync(path.join(__dirname, '../../examples/restore-file-by-email.json'), 'utf8')) as { id: string; nodes: Record<string, unknown>[] };
    const prepared = (id: string, wanted: string): Record<string, unknown> => ({
      ...example,
      id,
      nodes: example.nodes.map((n) => {
        if (n.name === 'Restore File') return { ...n, parameters: { ...(n.parameters as object), destinationPath: dest, setName: 'mail' } };
        if (n.name !== 'What to Restore') return n;
        const p = n.parameters as { assignments: { assignments: { name: string; value: string }[] } };
        return { ...n, parameters: { ...p, assignments: { assignments: p.assignments.assignments.map((a) => (a.name === 'path' ? { ...a, value: wanted } : a)) } } };
      }),
    });
    const good = runWorkflow(env, prepared('exRestoreMail01', 'docs/report.txt'));
    ok(good);
    expect(good.items('Restore File').map((i) => [i.json.path, i.binary?.data?.fileName])).toEqual([['docs/report.txt', 'report.txt']]);
    expect(good.items('Mark Execution Failed')).toEqual([]);
    const bad = runWorkflow(env, prepared('exRestoreMail02', 'docs/no-such.txt'));
    expect(bad.executionStatus).toBe('error');
    expect(bad.errorMessage).toMatch(/^Restore of docs\/no-such\.txt failed: .*\[NOTHING_SELECTED\]/);
  });

  test('a missing source: an error item with Continue On Fail, a failed execution without', () => {
    const missing = path.join(allowed, 'no-such-folder');
    const params = { resource: 'backup', operation: 'full', sourcePaths: missing, destinationPath: dest };
    const tolerant = run(params, 'continueRegularOutput');
    ok(tolerant);
    expect(tolerant.executionStatus).toBe('success');
    expect(tolerant.items('Backup')[0].json).toMatchObject({ code: 'SOURCE_MISSING', source: missing });
    expect(String(tolerant.items('Backup')[0].json.error)).toMatch(/does not exist/);

    const strict = run(params);
    expect(strict.status).not.toBe(0);
    expect(strict.executionStatus).toBe('error');
    expect(strict.errorMessage ?? strict.stdout).toMatch(/does not exist/);
  });

  test("file access in one execution: outside the allowed folders, n8n's own folder, symlinks into either; nothing is written", () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-outside-'));
    const own = path.join(env.userFolder, '.n8n');
    try {
      fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret');
      // Symlinks inside the allowed folder that lead out of it.
      fs.symlinkSync(own, path.join(allowed, 'to-n8n'));
      fs.symlinkSync(outside, path.join(allowed, 'to-outside'));
      // n8n's own SQLite journal files come and go with n8n itself (left behind when it crashes at exit).
      const ownListing = (): string[] => fs.readdirSync(own).filter((n) => !/^database\.sqlite-(wal|shm|journal)$/.test(n)).sort();
      const ownBefore = ownListing();
      const homeBefore = fs.readdirSync(env.userFolder).filter((n) => !n.startsWith('wf-')).sort();
      const steps: BackupStep[] = [
        { name: 'SourceOutside', parameters: { resource: 'backup', operation: 'full', sourcePaths: outside, destinationPath: path.join(allowed, 'outside-backups') } },
        { name: 'DestIsN8n', parameters: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: own, options: { setName: 'guard' } } },
        { name: 'DestHoldsN8n', parameters: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: env.userFolder, options: { setName: 'guard' } } },
        { name: 'SourceHoldsN8n', parameters: { resource: 'backup', operation: 'full', sourcePaths: env.userFolder, destinationPath: path.join(allowed, 'home-backups') } },
        { name: 'DestViaLink', parameters: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: path.join(allowed, 'to-n8n', 'backups') } },
        { name: 'TargetViaLinkN8n', parameters: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: 'data', targetPath: path.join(allowed, 'to-n8n', 'restored') } },
        { name: 'TargetIsLinkN8n', parameters: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: 'data', targetPath: path.join(allowed, 'to-n8n'), overwrite: 'overwrite' } },
        { name: 'TargetViaLinkOutside', parameters: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: 'data', targetPath: path.join(allowed, 'to-outside', 'restored') } },
      ];
      const r = runWorkflow(env, stepsWorkflow(steps.map((step) => ({ ...step, onError: 'continueRegularOutput' }))));
      ok(r);
      const refusals = Object.fromEntries(steps.map((step) => [step.name, r.items(step.name).map((i) => [i.json.code, String(i.json.error)])]));
      // The hint names the folders this n8n allows and the variable to change.
      expect(r.items('SourceOutside')[0].json.hint).toContain(`This n8n lets nodes use only ${env.allowed.join(', ')} (N8N_RESTRICT_FILE_ACCESS_TO)`);
      expect(refusals).toEqual({
        SourceOutside: [['ACCESS_DENIED', `Access to ${outside} is not allowed`]],
        DestIsN8n: [['ACCESS_DENIED', expect.stringMatching(/not allowed|is n8n's own folder/)]],
        DestHoldsN8n: [['ACCESS_DENIED', `The backup folder ${env.userFolder} contains n8n's own folder ${own}`]],
        SourceHoldsN8n: [['ACCESS_DENIED', `The source folder ${env.userFolder} contains n8n's own folder ${own}`]],
        DestViaLink: [['ACCESS_DENIED', expect.stringMatching(/not allowed|inside n8n's own folder/)]],
        TargetViaLinkN8n: [['ACCESS_DENIED', expect.stringMatching(/not allowed|inside n8n's own folder/)]],
        TargetIsLinkN8n: [['ACCESS_DENIED', expect.stringMatching(/not allowed|is n8n's own folder/)]],
        TargetViaLinkOutside: [['ACCESS_DENIED', `Access to ${path.join(allowed, 'to-outside', 'restored')} is not allowed`]],
      });
      // Nothing written anywhere: not in n8n's folder, not next to it, not outside, not in the allowed folder.
      expect(ownListing()).toEqual(ownBefore);
      expect(fs.readdirSync(env.userFolder).filter((n) => !n.startsWith('wf-')).sort()).toEqual(homeBefore);
      expect(fs.readdirSync(outside)).toEqual(['secret.txt']);
      for (const made of ['outside-backups', 'home-backups']) expect(fs.existsSync(path.join(allowed, made))).toBe(false);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
      for (const link of ['to-n8n', 'to-outside']) fs.rmSync(path.join(allowed, link), { force: true });
    }
  });

  // NEEDS THE ENGINE'S ENCRYPTION (issue 7): written against the engine contract (passphrase option,
  // PASSPHRASE_REQUIRED, BackupSummary.encrypted); it fails until that engine work is merged.
  test('encrypted round trip through the Backup Encryption credential; without it, PASSPHRASE_REQUIRED in the error output', async () => {
    const passphrase = 'integration test passphrase, not a real one';
    const credential = { id: 'bkEncItCred00001', name: 'Backup passphrase', type: 'backupEncryption', data: { passphrase } };
    importCredentials(env, [credential]);
    const credentials = { backupEncryption: { id: credential.id, name: credential.name } };
    const marker = 'plaintext marker 7f3a9c';
    fs.writeFileSync(path.join(src, 'docs', 'marker.txt'), `${marker}\n`);
    const target = path.join(allowed, 'restored-encrypted');
    const set = { destinationPath: dest, setName: 'secret' };
    const r = runWorkflow(env, stepsWorkflow([
      { name: 'Encrypt', credentials, parameters: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, encrypt: true, options: { setName: 'secret', format: 'tar.gz' } } },
      { name: 'Restore', after: 'Encrypt', credentials, parameters: { resource: 'backupSet', operation: 'restore', ...set, backupId: 'latest', targetPath: target, encrypt: true } },
      { name: 'Verify', after: 'Restore', credentials, parameters: { resource: 'backupSet', operation: 'verify', ...set, backupId: 'all', fullVerify: true, encrypt: true } },
      { name: 'List', after: 'Verify', parameters: { resource: 'backupSet', operation: 'list', ...set } },
      {
        name: 'NoCredential', after: 'List', onError: 'continueErrorOutput',
        parameters: { resource: 'backupSet', operation: 'restore', ...set, backupId: 'latest', targetPath: path.join(allowed, 'restored-without') },
      },
    ]));
    ok(r);
    expect(r.items('Encrypt')[0].json).toMatchObject({ set: 'secret', type: 'full', errorCount: 0 });
    expect(r.items('Restore')[0].json).toMatchObject({ errorCount: 0 });
    expectSameTree(await snapshotTree(target), await snapshotTree(src));
    expect(r.items('Verify')[0].json).toMatchObject({ ok: true, problemCount: 0 });
    expect(r.items('List').map((i) => i.json.encrypted)).toEqual([true]);
    expect(r.items('NoCredential', 0)).toEqual([]);
    // On the error output the item is { error, details } (n8n 2.x routes only items of
    // error/message/details); n8n 1.x routes only { error } or { error, message }.
    expect(r.items('NoCredential', 1).map((i) => i.json)).toEqual([
      N8N_VERSION.startsWith('1.')
        ? expect.objectContaining({ error: expect.stringContaining('is encrypted'), message: expect.stringMatching(/^PASSPHRASE_REQUIRED: .*Decrypt/) })
        : expect.objectContaining({
            error: expect.stringContaining('is encrypted'),
            details: expect.objectContaining({ code: 'PASSPHRASE_REQUIRED', set: 'secret', hint: expect.stringContaining('Decrypt') }),
          }),
    ]);
    expect(fs.existsSync(path.join(allowed, 'restored-without'))).toBe(false);
    // Neither the passphrase nor the file contents are readable in the set, as stored or gunzipped.
    const setDir = path.join(dest, 'secret');
    const files = (fs.readdirSync(setDir, { recursive: true }) as string[]).map((rel) => path.join(setDir, rel)).filter((f) => fs.statSync(f).isFile());
    for (const file of files) {
      const bytes = fs.readFileSync(file);
      let inflated = Buffer.alloc(0);
      try {
        inflated = gunzipSync(bytes);
      } catch {
        // not gzip: checked as stored
      }
      for (const text of [marker, passphrase]) expect({ file, found: bytes.includes(text) || inflated.includes(text) }).toEqual({ file, found: false });
    }
    expect(JSON.stringify(r.items('Encrypt')) + r.stdout).not.toContain(passphrase);
  });
  // Issue 13, the node side: n8n's own s3 and sftp credential types, read by this community node.
  const remoteMissing = motoUnavailable() ?? sshdUnavailable();
  (remoteMissing === undefined ? test : test.skip)(
    `S3 (moto) and SFTP (sshd) in one execution, with n8n's S3, AWS and SFTP credentials: backup, list, restore, verify; a wrong Host Key refused; no secret in the output${remoteMissing === undefined ? '' : ` - SKIPPED: ${remoteMissing}`}`,
    async () => {
      let moto: Moto | undefined;
      let sshd: Sshd | undefined;
      try {
        [moto, sshd] = await Promise.all([startMoto(), startSshd()]);
        const bucket = 'n8n-it-backups';
        const client = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
        client.destroy();
        // The SFTP folder is outside the allowed folders: they are about this machine's files, not a server's.
        const folder = path.join(sshd.dir, 'backups');
        fs.mkdirSync(folder);
        const secretKey = 'it-secret-key-Zx81-not-real-0000';
        const privateKey = fs.readFileSync(sshd.clientKey, 'utf8');
        importCredentials(env, [
          { id: 'bkS3ItCred000001', name: 'moto', type: 's3', data: { endpoint: moto.endpoint, region: 'us-east-1', accessKeyId: 'AKIAINTEGRATION0001', secretAccessKey: secretKey, forcePathStyle: true, ignoreSSLIssues: false } },
          { id: 'bkAwsItCred00001', name: 'moto via aws', type: 'aws', data: { region: 'us-east-1', accessKeyId: 'AKIAINTEGRATION0002', secretAccessKey: secretKey, temporaryCredentials: false, customEndpoints: true, s3Endpoint: moto.endpoint } },
          { id: 'bkSftpItCred0001', name: 'sshd', type: 'sftp', data: { host: '127.0.0.1', port: sshd.port, username: sshd.user, password: '', privateKey, passphrase: '' } },
        ]);
        const s3 = { credentials: { s3: { id: 'bkS3ItCred000001', name: 'moto' } }, where: { destinationType: 's3', s3Bucket: bucket, s3Prefix: 'n8n' } };
        const sftp = { credentials: { sftp: { id: 'bkSftpItCred0001', name: 'sshd' } }, where: { destinationType: 'sftp', sftpPath: folder, sftpHostKey: sshd.hostKey } };
        const steps: BackupStep[] = [];
        for (const [label, d] of [['S3', s3], ['Sftp', sftp]] as const) {
          const set = { ...d.where, setName: 'remote' };
          steps.push(
            { name: `${label}Backup`, credentials: d.credentials, parameters: { resource: 'backup', operation: 'full', sourcePaths: src, ...d.where, options: { setName: 'remote', format: 'tar.gz' } } },
            { name: `${label}List`, after: `${label}Backup`, credentials: d.credentials, parameters: { resource: 'backupSet', operation: 'list', ...set } },
            { name: `${label}Restore`, after: `${label}List`, credentials: d.credentials, parameters: { resource: 'backupSet', operation: 'restore', ...set, targetPath: path.join(allowed, `restored-${label}`) } },
            { name: `${label}Verify`, after: `${label}Restore`, credentials: d.credentials, parameters: { resource: 'backupSet', operation: 'verify', ...set, fullVerify: true } },
          );
        }
        // The same bucket through n8n's AWS (IAM) credential type.
        steps.push({ name: 'AwsList', after: 'S3Verify', credentials: { aws: { id: 'bkAwsItCred00001', name: 'moto via aws' } }, parameters: { resource: 'backupSet', operation: 'list', ...s3.where, s3CredentialType: 'aws' } });
        const otherKey = `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 3)]).toString('base64')}`;
        steps.push({
          name: 'WrongHostKey', onError: 'continueRegularOutput', credentials: sftp.credentials,
          parameters: { resource: 'backupSet', operation: 'list', ...sftp.where, sftpHostKey: otherKey },
        });
        const r = runWorkflow(env, stepsWorkflow(steps));
        ok(r);
        const s3Dest = `s3://${bucket}/n8n`;
        const sftpDest = `sftp://${sshd.user}@127.0.0.1:${sshd.port}${folder}`;
        for (const [label, dest] of [['S3', s3Dest], ['Sftp', sftpDest]] as const) {
          const [made] = r.items(`${label}Backup`);
          expect(made.json).toMatchObject({ destination: dest, set: 'remote', type: 'full', errorCount: 0 });
          expect(r.items(`${label}List`).map((i) => [i.json.backupId, i.json.storage])).toEqual([[made.json.backupId, 'tar.gz']]);
          expect(r.items(`${label}Restore`)[0].json).toMatchObject({ backupId: made.json.backupId, errorCount: 0 });
          expectSameTree(await snapshotTree(path.join(allowed, `restored-${label}`)), await snapshotTree(src));
          expect(r.items(`${label}Verify`)[0].json).toMatchObject({ ok: true, problemCount: 0 });
        }
        expect(r.items('AwsList').map((i) => i.json.backupId)).toEqual([r.items('S3Backup')[0].json.backupId]);
        expect(fs.readdirSync(path.join(folder, 'remote')).filter((n) => !n.startsWith('.'))).toContain(String(r.items('SftpBackup')[0].json.backupId));
        expect(r.items('WrongHostKey')[0].json).toMatchObject({ code: 'HOST_KEY_CHANGED', destination: sftpDest, hint: expect.stringContaining("node's Host Key") });
        // Everything n8n printed (every item of every node, the execution's data): no secret.
        for (const secret of [secretKey, privateKey.split('\n')[1]]) expect(r.stdout + r.stderr).not.toContain(secret);
      } finally {
        await Promise.all([moto?.stop(), sshd?.stop()]);
      }
    },
  );

  // The off-site examples (examples/nightly-backup-s3.json, -sftp.json) as a new user gets them:
  // no credential inside, the fields to fill named in the sticky note, the failure path visible.
  (remoteMissing === undefined ? test : test.skip)(
    `the S3 and SFTP examples import and run: without a credential a failed execution naming CREDENTIAL_MISSING, with one the backup lands${remoteMissing === undefined ? '' : ` - SKIPPED: ${remoteMissing}`}`,
    async () => {
      let moto: Moto | undefined;
      let sshd: Sshd | undefined;
      try {
        [moto, sshd] = await Promise.all([startMoto(), startSshd()]);
        const bucket = 'n8n-example-backups';
        const client = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
        client.destroy();
        const folder = path.join(sshd.dir, 'example-backups');
        fs.mkdirSync(folder);
        const s3Credential = { id: 'bkExS3Cred000001', name: 'moto for the example' };
        const sftpCredential = { id: 'bkExSftpCred0001', name: 'sshd for the example' };
        importCredentials(env, [
          { ...s3Credential, type: 's3', data: { endpoint: moto.endpoint, region: 'us-east-1', accessKeyId: 'AKIAEXAMPLETEST01', secretAccessKey: 'example-secret-not-real', forcePathStyle: true, ignoreSSLIssues: false } },
          { ...sftpCredential, type: 'sftp', data: { host: '127.0.0.1', port: sshd.port, username: sshd.user, password: '', privateKey: fs.readFileSync(sshd.clientKey, 'utf8'), passphrase: '' } },
        ]);
        const cases = [
          {
            file: 'nightly-backup-s3.json', credentials: { s3: s3Credential }, fill: { s3Bucket: bucket }, destination: `s3://${bucket}/n8n/backups`,
            toFill: ['S3** credential', '**Bucket**', '**Prefix**'],
          },
          {
            file: 'nightly-backup-sftp.json', credentials: { sftp: sftpCredential }, fill: { sftpPath: folder, sftpHostKey: sshd.hostKey },
            destination: `sftp://${sshd.user}@127.0.0.1:${sshd.port}${folder}`, toFill: ['SFTP** credential', '**Folder on Server**', '**Host Key**'],
          },
        ];
        for (const c of cases) {
          const example = JSON.parse(fs.readFileSync(path.join(__dirname, '../../examples', c.file), 'utf8')) as { id: string; nodes: Record<string, unknown>[] };
          // Shipped without credentials; the sticky note names every field to fill in.
          for (const node of example.nodes) expect(node.credentials).toBeUndefined();
          const note = String((example.nodes.find((n) => n.type === 'n8n-nodes-base.stickyNote')?.parameters as Record<string, unknown>).content);
          for (const field of c.toFill) expect(note).toContain(field);
          const prepared = (id: string, withCredential: boolean): Record<string, unknown> => ({
            ...example,
            id,
            nodes: example.nodes.map((n) => {
              if (n.type === 'n8n-nodes-base.scheduleTrigger') return { ...n, type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, parameters: {} };
              if (n.name !== 'Backup') return n;
              return { ...n, parameters: { ...(n.parameters as object), sourcePaths: src, ...c.fill }, ...(withCredential ? { credentials: c.credentials } : {}) };
            }),
          });
          const bad = runWorkflow(env, prepared(`${example.id.slice(0, 14)}Bad`, false));
          expect(bad.status).not.toBe(0);
          expect(bad.executionStatus).toBe('error');
          const [failed] = bad.items('Backup');
          expect(failed.json).toMatchObject({ code: 'CREDENTIAL_MISSING' });
          expect(bad.errorMessage).toBe(`Backup of ${src} failed: ${String(failed.json.error)} [CREDENTIAL_MISSING] ${String(failed.json.hint)}`);

          const good = runWorkflow(env, prepared(`${example.id.slice(0, 13)}Good`, true));
          ok(good);
          expect(good.executionStatus).toBe('success');
          expect(good.items('Backup')[0].json).toMatchObject({ destination: c.destination, set: 'documents', type: 'full', errorCount: 0 });
          expect(good.items('Mark Execution Failed')).toEqual([]);
          expect(good.items('Backed Up')).toHaveLength(1);
        }
      } finally {
        await Promise.all([moto?.stop(), sshd?.stop()]);
      }
    },
  );
});
