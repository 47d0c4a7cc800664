/**
 * The Backup node inside a real n8n 2.x: workflows imported and executed with the n8n CLI.
 * Needs scripts/install-n8n.sh (CI runs it; locally it is cached in N8N_TEST_HOME). Without it the
 * suite is skipped with a visible message, except in CI or with REQUIRE_N8N=1, where it fails.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { N8nEnv, N8nRun } from '../helpers/n8n';
import { backupWorkflow, installPackage, n8nInstalled, runWorkflow } from '../helpers/n8n';
import { expectSameTree, snapshotTree } from '../helpers/tree';

const required = process.env.CI === 'true' || process.env.REQUIRE_N8N === '1';
const available = n8nInstalled();
if (!available && !required) console.warn('SKIPPED n8n integration tests: run scripts/install-n8n.sh first (or set N8N_TEST_HOME)');
const suite = available || required ? describe : describe.skip;

jest.setTimeout(600_000);

suite('the Backup node in a real n8n', () => {
  let root: string;
  let env: N8nEnv;
  let allowed: string;
  let src: string;
  let dest: string;

  beforeAll(() => {
    if (!available) throw new Error('n8n is not installed: run scripts/install-n8n.sh (CI must run it before the tests)');
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-it-'));
    allowed = path.join(root, 'files');
    src = path.join(allowed, 'data');
    dest = path.join(allowed, 'backups');
    fs.mkdirSync(path.join(src, 'docs', 'empty'), { recursive: true });
    fs.writeFileSync(path.join(src, 'docs', 'report.txt'), 'quarterly numbers\n');
    fs.writeFileSync(path.join(src, 'notes.md'), '# notes\n');
    fs.symlinkSync('docs/report.txt', path.join(src, 'latest'));
    env = { userFolder: path.join(root, 'home'), allowed: [allowed], brokerPort: 25_000 + (process.pid % 5000) };
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

    fs.writeFileSync(path.join(src, 'notes.md'), '# notes\nmore\n');
    fs.writeFileSync(path.join(src, 'docs', 'new.txt'), 'new\n');
    const auto = run({ resource: 'backup', operation: 'auto', sourcePaths: src, destinationPath: dest, options: { setName: 'data' } });
    ok(auto);
    const [a] = auto.items('Backup');
    expect(a.json).toMatchObject({ operation: 'auto', type: 'incremental', files: { added: 1, changed: 1, deleted: 0 } });
    expect(a.json.decision).toMatch(/^auto: incremental/);

    const list = run({ resource: 'backupSet', operation: 'list', destinationPath: dest, setName: 'data' });
    ok(list);
    expect(list.items('Backup').map((i) => i.json.type)).toEqual(['full', 'incremental']);

    const target = path.join(allowed, 'restored');
    const restore = run({ resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: 'data', backupId: 'latest', targetPath: target });
    ok(restore);
    expect(restore.items('Backup')[0].json).toMatchObject({ backupId: a.json.backupId, errorCount: 0 });
    expectSameTree(await snapshotTree(target), await snapshotTree(src));

    const verify = run({ resource: 'backupSet', operation: 'verify', destinationPath: dest, setName: 'data', backupId: 'all', fullVerify: true });
    ok(verify);
    expect(verify.items('Backup')[0].json).toMatchObject({ ok: true, problemCount: 0 });
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

  test('a source outside N8N_RESTRICT_FILE_ACCESS_TO is refused and nothing is written', () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-outside-'));
    try {
      fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret');
      const r = run({ resource: 'backup', operation: 'full', sourcePaths: outside, destinationPath: path.join(allowed, 'outside-backups') }, 'continueRegularOutput');
      ok(r);
      expect(String(r.items('Backup')[0].json.error)).toMatch(/not allowed/i);
      expect(fs.existsSync(path.join(allowed, 'outside-backups'))).toBe(false);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});
