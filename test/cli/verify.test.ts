/**
 * `n8n-backup verify` on a set with a full and an incremental, intact and then damaged in each way
 * a disk or a person damages backups: a flipped byte (same size), a truncated or deleted stored
 * file, a truncated manifest (with and without its backup.json), a deleted backup that another
 * one points into. Quick mode checks presence and size, --full re-reads every byte; --backup
 * checks everything one backup needs, wherever the bytes are held.
 * JSON: [{ set, mode, checked, ok, filesChecked, bytesChecked, problems[{backupId,path,code,message}], problemCount, durationMs, summary }].
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliResult, StorageFormat, VerifyItem, VerifyProblemItem } from '../helpers/cli';
import {
  asBackupItem, asFailureItem, describeEachFormat, expectExit, flipByte, listJson, makeTempDir, removeTempDir, runCli, runCliJson, stderrProblems,
  asVerifyItem, writeFile,
} from '../helpers/cli';

const SET = 'v';
const MANIFEST = 'manifest.jsonl.gz';

interface Made {
  id: string;
  stored: number;
  storedBytes: number;
}

describeEachFormat('verify', (format: StorageFormat) => {
  let template: string;
  let tmp: string;
  let dest: string;
  let full: Made;
  let inc: Made;
  /** Files (and their bytes) in the source when the incremental was taken: what `--backup <inc>` must check. */
  let filesAtInc = 0;
  let bytesAtInc = 0;
  let filesAtFull = 0;
  let bytesAtFull = 0;

  // tar.gz at level 0: the archive holds each file's bytes verbatim, so a test can find and flip one.
  const formatArgs = format === 'tar.gz' ? ['--format', 'tar.gz', '--compression-level', '0'] : ['--format', 'folder'];
  const archive = (id: string): string => path.join(dest, SET, id, 'data.tar.gz');
  const storedFile = (id: string, rel: string): string => path.join(dest, SET, id, 'data', rel);

  function backup(src: string, tDest: string, type: string): Made {
    const { result, items } = runCliJson(['backup', src, '--dest', tDest, '--set', SET, '--type', type, ...formatArgs]);
    expectExit(result, 0);
    const item = asBackupItem(items[0]);
    return { id: item.backupId as string, stored: item.files.stored, storedBytes: item.bytes.stored };
  }

  function sourceTotals(src: string): { files: number; bytes: number } {
    let files = 0;
    let bytes = 0;
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const abs = path.join(dir, e.name);
        if (e.isDirectory()) walk(abs);
        else if (e.isFile()) {
          files++;
          bytes += fs.statSync(abs).size;
        }
      }
    };
    walk(src);
    return { files, bytes };
  }

  beforeAll(() => {
    template = makeTempDir(`verify-template-${format.replace('.', '')}`);
    const src = path.join(template, 'src');
    const tDest = path.join(template, 'dest');
    for (let i = 0; i < 30; i++) writeFile(src, `keep/k${i}.txt`, `keep file ${i}: ${'x'.repeat(10 + i * 10)}\n`);
    for (let i = 0; i < 10; i++) writeFile(src, `change/c${i}.txt`, `change file ${i}, first version\n`);
    writeFile(src, 'big.bin', randomBytes(300 * 1024));
    writeFile(src, 'empty.txt', '');
    writeFile(src, 'gone.txt', 'deleted before the incremental\n');
    fs.symlinkSync('keep/k0.txt', path.join(src, 'link'));
    ({ files: filesAtFull, bytes: bytesAtFull } = sourceTotals(src));
    full = backup(src, tDest, 'full');
    for (let i = 0; i < 10; i++) writeFile(src, `change/c${i}.txt`, `change file ${i}, second and longer version\n`);
    writeFile(src, 'new.txt', 'added before the incremental\n');
    fs.rmSync(path.join(src, 'gone.txt'));
    ({ files: filesAtInc, bytes: bytesAtInc } = sourceTotals(src));
    inc = backup(src, tDest, 'incremental');
    expect(inc.stored).toBe(11); // the ten changed files and new.txt
  });
  afterAll(() => removeTempDir(template));

  beforeEach(() => {
    tmp = makeTempDir(`verify-${format.replace('.', '')}`);
    dest = path.join(tmp, 'dest');
    fs.cpSync(path.join(template, 'dest'), dest, { recursive: true, preserveTimestamps: true });
  });
  afterEach(() => removeTempDir(tmp));

  function verify(...extra: string[]): { result: CliResult; report: VerifyItem } {
    const { result, items } = runCliJson(['verify', '--dest', dest, '--set', SET, ...extra]);
    if (result.status !== 0 && result.status !== 1) throw new Error(`verify exited ${String(result.status)}: ${result.stderr}`);
    expect(items).toHaveLength(1);
    return { result, report: asVerifyItem(items[0]) };
  }

  /** A failed verification: exit 1, one line on stderr (VERIFY_FAILED), ok false. */
  function expectFailed(result: CliResult, report: VerifyItem): void {
    expectExit(result, 1);
    expect(stderrProblems(result.stderr)).toEqual([]);
    expect(result.stderr).toContain('[VERIFY_FAILED]');
    expect(report.ok).toBe(false);
    expect(report.problemCount).toBe(report.problems.length);
  }

  const brief = (problems: VerifyProblemItem[]): string[][] => problems.map((p) => [p.backupId, p.path, p.code]);

  /** Changes one byte of the stored copy of `rel` in backup `id`, keeping the size. */
  function flipStored(id: string, rel: string, marker: string): void {
    if (format === 'folder') {
      flipByte(storedFile(id, rel));
      return;
    }
    const file = archive(id);
    const at = fs.readFileSync(file).indexOf(Buffer.from(marker));
    if (at < 0) throw new Error(`cannot find the bytes of ${rel} in ${file} (level 0 should store them verbatim)`);
    flipByte(file, at + marker.length + 2);
  }

  test('intact: quick and --full pass (exit 0) and count what each backup holds', () => {
    // A backup being written right now (a partial folder) is not part of the set.
    fs.mkdirSync(path.join(dest, SET, '.partial-20991231T000000000Z-full', 'data'), { recursive: true });
    for (const mode of ['quick', 'full'] as const) {
      const { result, report } = verify(...(mode === 'full' ? ['--full'] : []));
      expectExit(result, 0);
      expect(result.stderr).toBe('');
      expect(report).toEqual(
        expect.objectContaining({
          set: SET, mode, checked: [full.id, inc.id], ok: true, filesChecked: full.stored + inc.stored, bytesChecked: full.storedBytes + inc.storedBytes, problems: [], problemCount: 0,
        }),
      );
      expect(report.summary).toMatch(/intact/);
    }
    const text = runCli(['verify', '--dest', dest, '--set', SET, '--full']);
    expectExit(text, 0);
    expect(text.stdout.trim().split('\n')).toHaveLength(1);
    expect(text.stdout).toContain(SET);
  });

  (format === 'folder' ? test : test.skip)('a flipped byte in a stored file (same size): quick passes; --full exits 1 with CORRUPT naming the path and the backup', () => {
    flipStored(full.id, 'keep/k3.txt', 'keep file 3:');
    expectExit(verify().result, 0);

    const { result, report } = verify('--full');
    expectFailed(result, report);
    expect(brief(report.problems)).toEqual([[full.id, 'keep/k3.txt', 'CORRUPT']]);
    expect(report.problems[0].message).toContain(full.id);
    expect(report.summary).toContain('keep/k3.txt');

    // The incremental needs that file too (held by the full): --backup <inc> --full finds it and says where it is held.
    const one = verify('--backup', inc.id, '--full');
    expectFailed(one.result, one.report);
    expect(one.report.problems.map((p) => [p.path, p.code])).toEqual([['keep/k3.txt', 'CORRUPT']]);
    expect(`${one.report.problems[0].backupId} ${one.report.problems[0].message}`).toContain(full.id);

    // Text output: one line per problem with its code; stderr one line.
    const text = runCli(['verify', '--dest', dest, '--set', SET, '--full']);
    expectExit(text, 1);
    expect(text.stdout).toMatch(/keep\/k3\.txt: .*\[CORRUPT\]/);
    expect(stderrProblems(text.stderr)).toEqual([]);
  });

  // tar.gz: every check reads the archive to its end (gzip's checksum), so quick mode sees a flipped byte too.
  (format === 'tar.gz' ? test : test.skip)('a flipped byte in the archive (same size): quick and --full exit 1 with CORRUPT naming the archive and the backup', () => {
    flipStored(full.id, 'keep/k3.txt', 'keep file 3:');
    for (const mode of [[], ['--full']]) {
      const { result, report } = verify(...mode);
      expectFailed(result, report);
      expect(brief(report.problems)).toContainEqual([full.id, 'data.tar.gz', 'CORRUPT']);
      expect(report.problems.every((p) => p.backupId === full.id)).toBe(true);
    }
    // The incremental needs the full's archive: --backup <inc> reports it under the full's id.
    const one = verify('--backup', inc.id, '--full');
    expectFailed(one.result, one.report);
    expect(one.report.problems.map((p) => [p.path, p.code])).toContainEqual([`${full.id}/data.tar.gz`, 'CORRUPT']);
  });

  // A flipped byte fails the gzip CRC of its ~1 MiB member; what the member still inflates to is
  // handed on and each file's sha256 decides, so only the file whose bytes changed is blamed.
  (format === 'tar.gz' ? test : test.skip)('a flipped byte in the archive: quick and --full blame the member whose bytes changed, and no intact member', () => {
    // keep/k9.txt is the last member (walk order), in the same gzip member as the members before it.
    flipStored(full.id, 'keep/k9.txt', 'keep file 9:');
    for (const mode of [[], ['--full']]) {
      const { result, report } = verify(...mode);
      expectFailed(result, report);
      const blamed = report.problems.filter((p) => p.path !== 'data.tar.gz').map((p) => [p.path, p.code]);
      expect(blamed).toEqual([['keep/k9.txt', 'CORRUPT']]);
    }
    // An early member too: everything after it is read, and only it is blamed.
    flipStored(full.id, 'keep/k3.txt', 'keep file 3:');
    const { report } = verify('--full');
    expect(report.problems.filter((p) => p.path !== 'data.tar.gz').map((p) => p.path).sort()).toEqual(['keep/k3.txt', 'keep/k9.txt']);
  });

  test('a truncated stored file: quick and --full exit 1 (TRUNCATED)', () => {
    if (format === 'folder') fs.truncateSync(storedFile(full.id, 'big.bin'), 100 * 1024);
    else fs.truncateSync(archive(full.id), Math.floor(fs.statSync(archive(full.id)).size / 2));
    for (const mode of [[], ['--full']]) {
      const { result, report } = verify(...mode);
      expectFailed(result, report);
      expect(report.problems.every((p) => p.backupId === full.id)).toBe(true);
      if (format === 'folder') expect(brief(report.problems)).toEqual([[full.id, 'big.bin', 'TRUNCATED']]);
      else expect(report.problems.map((p) => p.code)).toContain('TRUNCATED');
    }
  });

  test('a deleted stored file: quick exits 1 (MISSING)', () => {
    if (format === 'folder') fs.rmSync(storedFile(inc.id, 'new.txt'));
    else fs.rmSync(archive(inc.id));
    const { result, report } = verify();
    expectFailed(result, report);
    expect(report.problems.every((p) => p.backupId === inc.id && p.code === 'MISSING')).toBe(true);
    if (format === 'folder') expect(brief(report.problems)).toEqual([[inc.id, 'new.txt', 'MISSING']]);
    else expect(report.problems.length).toBeGreaterThan(0);
  });

  test('a truncated manifest whose backup.json is kept: list still says complete, verify finds MANIFEST_CORRUPT (exit 1)', () => {
    const manifest = path.join(dest, SET, inc.id, MANIFEST);
    fs.truncateSync(manifest, Math.floor(fs.statSync(manifest).size / 2));
    expect(listJson(dest, SET).map((b) => [b.backupId, b.complete])).toEqual([
      [full.id, true],
      [inc.id, true],
    ]);
    for (const mode of [[], ['--full']]) {
      const { result, report } = verify(...mode);
      expectFailed(result, report);
      expect(brief(report.problems)).toEqual([[inc.id, MANIFEST, 'MANIFEST_CORRUPT']]);
    }
  });

  test('a truncated manifest without its backup.json: list says incomplete, verify reports INCOMPLETE (exit 1)', () => {
    const manifest = path.join(dest, SET, inc.id, MANIFEST);
    fs.truncateSync(manifest, Math.floor(fs.statSync(manifest).size / 2));
    fs.rmSync(path.join(dest, SET, inc.id, 'backup.json'));
    expect(listJson(dest, SET).map((b) => [b.backupId, b.complete])).toEqual([
      [full.id, true],
      [inc.id, false],
    ]);
    const { result, report } = verify();
    expectFailed(result, report);
    expect(report.checked).toEqual([full.id, inc.id]);
    expect(brief(report.problems)).toEqual([[inc.id, MANIFEST, 'INCOMPLETE']]);
    const one = verify('--backup', inc.id);
    expectFailed(one.result, one.report);
    expect(brief(one.report.problems)).toEqual([[inc.id, MANIFEST, 'INCOMPLETE']]);
  });

  test('the full is damaged beyond listing (manifest truncated, no backup.json): INCOMPLETE for it, MISSING_REFERENCE for the incremental', () => {
    const manifest = path.join(dest, SET, full.id, MANIFEST);
    fs.truncateSync(manifest, Math.floor(fs.statSync(manifest).size / 2));
    fs.rmSync(path.join(dest, SET, full.id, 'backup.json'));
    const { result, report } = verify();
    expectFailed(result, report);
    expect(report.problems.find((p) => p.backupId === full.id)?.code).toBe('INCOMPLETE');
    const ref = report.problems.filter((p) => p.backupId === inc.id);
    expect(ref.map((p) => p.code)).toEqual(['MISSING_REFERENCE']);
    expect(ref[0].message).toContain(full.id);
  });

  test('a deleted backup that the incremental points into: MISSING_REFERENCE naming it (exit 1)', () => {
    fs.rmSync(path.join(dest, SET, full.id), { recursive: true });
    for (const args of [[], ['--full'], ['--backup', inc.id], ['--backup', 'latest', '--full']]) {
      const { result, report } = verify(...args);
      expectFailed(result, report);
      expect(report.checked).toEqual([inc.id]);
      // One problem per missing backup, not one per file that lives there.
      expect(report.problems.map((p) => [p.backupId, p.code])).toEqual([[inc.id, 'MISSING_REFERENCE']]);
      expect(report.problems[0].message).toContain(full.id);
    }
  });

  test('--backup <id> checks everything that backup needs, wherever it is held, and only that', () => {
    const latest = verify('--backup', 'latest', '--full');
    expectExit(latest.result, 0);
    expect(latest.report).toEqual(expect.objectContaining({ checked: [inc.id], filesChecked: filesAtInc, bytesChecked: bytesAtInc, ok: true }));
    const one = verify('--backup', inc.id);
    expectExit(one.result, 0);
    expect(one.report).toEqual(expect.objectContaining({ checked: [inc.id], filesChecked: filesAtInc, bytesChecked: bytesAtInc }));
    const first = verify('--backup', full.id, '--full');
    expectExit(first.result, 0);
    expect(first.report).toEqual(expect.objectContaining({ checked: [full.id], filesChecked: filesAtFull, bytesChecked: bytesAtFull }));

    // Lose what the incremental stored: the full does not need it, the incremental does.
    if (format === 'folder') fs.rmSync(path.join(dest, SET, inc.id, 'data'), { recursive: true });
    else fs.rmSync(archive(inc.id));
    expectExit(verify('--backup', full.id, '--full').result, 0);
    const broken = verify('--backup', inc.id);
    expectFailed(broken.result, broken.report);
    expect(broken.report.problems.every((p) => p.code === 'MISSING')).toBe(true);
    if (format === 'folder') expect(broken.report.problems.map((p) => p.path).sort()).toEqual([...Array.from({ length: 10 }, (_, i) => `change/c${i}.txt`), 'new.txt'].sort());
  });

  // Folder format only: in an archive the full's copies stand or fall together (the test above covers that).
  (format === 'folder' ? test : test.skip)('--backup <inc> reports a file held by the full, naming the full; a file the incremental replaced is not its concern', () => {
    fs.rmSync(storedFile(full.id, 'keep/k7.txt')); // still used by the incremental
    fs.rmSync(storedFile(full.id, 'change/c0.txt')); // replaced by the incremental's own copy
    const forInc = verify('--backup', inc.id);
    expectFailed(forInc.result, forInc.report);
    expect(forInc.report.problems.map((p) => [p.path, p.code])).toEqual([['keep/k7.txt', 'MISSING']]);
    expect(`${forInc.report.problems[0].backupId} ${forInc.report.problems[0].message}`).toContain(full.id);
    const forFull = verify('--backup', full.id);
    expectFailed(forFull.result, forFull.report);
    expect(forFull.report.problems.map((p) => [p.path, p.code]).sort()).toEqual([
      ['change/c0.txt', 'MISSING'],
      ['keep/k7.txt', 'MISSING'],
    ]);
  });

  test('an unknown set: SET_NOT_FOUND; an unknown backup: BACKUP_NOT_FOUND (exit 1, one line)', () => {
    for (const [args, code] of [
      [['--set', 'no-such-set'], 'SET_NOT_FOUND'],
      [['--set', SET, '--backup', '20000101T000000000Z-full'], 'BACKUP_NOT_FOUND'],
    ] as const) {
      const { result, items } = runCliJson(['verify', '--dest', dest, ...args]);
      expectExit(result, 1);
      expect(stderrProblems(result.stderr)).toEqual([]);
      expect(result.stderr).toContain(`[${code}]`);
      expect(asFailureItem(items[0]).code).toBe(code);
    }
  });
});
