/**
 * A finished command ends its process, even when something (a bug) still holds it open: a run
 * from cron must not hang until the next night's run. The "something" here is a timer that a
 * module preloaded with NODE_OPTIONS keeps running.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertCliBuilt, makeTempDir, removeTempDir, runCli, runCliJson, writeFile } from '../helpers/cli';

let tmp: string;
let src: string;
let dest: string;
let holdOpen: string;

beforeAll(() => {
  assertCliBuilt();
  tmp = makeTempDir('exit');
  src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
  writeFile(src, 'a.txt', 'a\n');
  holdOpen = path.join(tmp, 'hold-open.js');
  fs.writeFileSync(holdOpen, 'setInterval(() => undefined, 1000);\n');
});

afterAll(() => removeTempDir(tmp));

const held = (): { env: NodeJS.ProcessEnv; timeoutMs: number } => ({ env: { NODE_OPTIONS: `--require ${holdOpen}` }, timeoutMs: 30000 });

test('a backup that finished exits with its code after the grace time, and says why', () => {
  const started = Date.now();
  const { result, items } = runCliJson(['backup', src, '--dest', dest, '--set', 'held'], held());
  const seconds = (Date.now() - started) / 1000;
  expect(result.signal).toBeNull();
  expect(result.status).toBe(0);
  expect(items[0]).toMatchObject({ type: 'full', errorCount: 0 });
  expect(result.stderr).toMatch(/^n8n-backup: the command had finished, but something still held the process open 5 s later \(a bug: please report it\); exiting with its code 0\n$/);
  expect(seconds).toBeGreaterThanOrEqual(5);
  expect(seconds).toBeLessThan(25);
  // The backup it made is whole.
  const verify = runCli(['verify', '--dest', dest, '--set', 'held', '--backup', 'latest']);
  expect(verify.status).toBe(0);
});

test('a failed command keeps its exit code', () => {
  const result = runCli(['backup', path.join(tmp, 'missing'), '--dest', dest], held());
  expect(result.signal).toBeNull();
  expect(result.status).toBe(1);
  expect(result.stderr).toContain('exiting with its code 1');
});

test('without anything holding it, the process ends at once and says nothing more', () => {
  const started = Date.now();
  const result = runCli(['backup', src, '--dest', dest, '--set', 'free']);
  expect(result.status).toBe(0);
  expect(result.stderr).toBe('');
  expect(Date.now() - started).toBeLessThan(5000);
});
