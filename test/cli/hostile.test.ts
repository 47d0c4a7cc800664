/**
 * Hostile backups through the built binary (issue 7): a refusal is exit 1, one line on stderr with
 * its code and no stack trace, and nothing written; a gzip-bomb manifest fails fast.
 * The engine-level tests (test/engine/hostile-*.test.ts, limits.test.ts) cover each case in depth.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertCliBuilt, expectExit, makeTempDir, removeTempDir, runCli, runCliJson, stderrProblems } from '../helpers/cli';
import { dirEntry, fileEntry, linkEntry } from '../helpers/forge';
import { forgeStored, headerLine, streamManifest } from '../helpers/forgeArchive';

const ID = '20260101T000000000Z-full';
const SET = 'set';
let tmp: string;
let dest: string;
let outside: string;

beforeAll(() => assertCliBuilt());
beforeEach(() => {
  tmp = makeTempDir('hostile');
  dest = path.join(tmp, 'dest');
  outside = path.join(tmp, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'sentinel.txt'), 'sentinel');
});
afterEach(() => removeTempDir(tmp));

function expectOutsideUntouched(): void {
  expect(fs.readdirSync(outside)).toEqual(['sentinel.txt']);
  expect(fs.readFileSync(path.join(outside, 'sentinel.txt'), 'utf8')).toBe('sentinel');
}

describe.each(['folder', 'tar.gz'] as const)('%s', (storage) => {
  test('restore of a manifest with a symlink to outside, then a file below it: exit 1, UNSAFE_PATH, nothing written', async () => {
    await forgeStored(path.join(dest, SET), ID, storage, [dirEntry('d'), linkEntry('d/a', outside), fileEntry('d/a/escaped.txt', 'x', ID)], {
      files: { 'd/a/escaped.txt': 'x' },
      members: [{ name: 'd/a/escaped.txt', data: 'x' }],
    });
    const target = path.join(tmp, 'target');
    const plain = runCli(['restore', '--dest', dest, '--set', SET, '--target', target]);
    expectExit(plain, 1);
    expect(stderrProblems(plain.stderr)).toEqual([]);
    expect(plain.stderr).toMatch(/^n8n-backup: .*Refusing to restore "d\/a\/escaped.txt".*\[UNSAFE_PATH\]/);
    const { result, items } = runCliJson(['restore', '--dest', dest, '--set', SET, '--target', target, '--overwrite']);
    expectExit(result, 1);
    expect(items).toEqual([expect.objectContaining({ code: 'UNSAFE_PATH' })]);
    expect(fs.existsSync(target) ? fs.readdirSync(target) : []).toEqual([]);
    expectOutsideUntouched();
  });
});

test('a gzip-bomb manifest (1 GiB line, 1 MiB on disk): restore and verify exit 1 with MANIFEST_CORRUPT, one line, no crash', async () => {
  const chunk = Buffer.alloc(4 << 20, 'x');
  function* bomb(): Generator<string | Buffer> {
    yield headerLine(SET, ID);
    yield '{"path":"';
    for (let i = 0; i < 256; i++) yield chunk;
  }
  await streamManifest(path.join(dest, SET), ID, bomb(), { level: 9 });
  const target = path.join(tmp, 'target');
  const started = Date.now();
  const restore = runCli(['restore', '--dest', dest, '--set', SET, '--target', target], { timeoutMs: 30_000 });
  expectExit(restore, 1);
  expect(stderrProblems(restore.stderr)).toEqual([]);
  expect(restore.stderr).toMatch(/a line is longer than 1048576 bytes.*\[MANIFEST_CORRUPT\]/);
  const { result, items } = runCliJson(['verify', '--dest', dest, '--set', SET], { timeoutMs: 30_000 });
  expectExit(result, 1);
  expect(items[0]).toMatchObject({ ok: false, problems: [expect.objectContaining({ code: 'MANIFEST_CORRUPT' })] });
  // A coarse bound for two CLI runs (the memory and time of the read itself: test/engine/limits.test.ts).
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(fs.existsSync(target) ? fs.readdirSync(target) : []).toEqual([]);
});
