import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackupReport, StorageFormat } from '../../nodes/Backup/engine';
import { restoreBackup, runBackup } from '../../nodes/Backup/engine';
import { tempDirs, writeTree } from '../helpers/fixtures';

/**
 * File names that are not valid UTF-8 (issue 12, item 7). Node's fs takes and gives paths as
 * UTF-8, so such an entry cannot be opened by any name Node has for it: it is reported for what
 * it is (ENAMEENCODING, with its bytes), not as "vanished during the backup" (ENOENT), and the
 * rest of the tree is backed up as usual.
 */

const dirs = tempDirs('n8n-backup-names-');
afterEach(() => dirs.cleanup());

async function backup(src: string, dest: string, format: StorageFormat): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type: 'full', format });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

/** Creates `<dir>/<prefix><0xff><suffix>` (a name no UTF-8 string can spell) as a file or a folder. */
function makeRawName(dir: string, prefix: string, suffix: string, kind: 'file' | 'dir'): void {
  const raw = Buffer.concat([Buffer.from(`${dir}/${prefix}`), Buffer.from([0xff]), Buffer.from(suffix)]);
  if (kind === 'dir') {
    fs.mkdirSync(raw);
    fs.writeFileSync(Buffer.concat([raw, Buffer.from('/inside.txt')]), 'inside\n');
  } else {
    fs.writeFileSync(raw, 'bytes\n');
  }
}

describe.each(['folder', 'tar.gz'] as const)('names that are not UTF-8 [%s]', (format) => {
  test('are reported as ENAMEENCODING with their bytes, once each; the rest is backed up and restores', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await writeTree(src, { 'good.txt': 'good\n', 'sub/also-good.txt': 'also\n', 'sub/caf\u00e9 \uFFFD.txt': 'a real U+FFFD is fine\n' });
    makeRawName(src, 'bad', '.txt', 'file');
    makeRawName(path.join(src, 'sub'), 'folder', '', 'dir');
    const report = await backup(src, path.join(root, 'dest'), format);

    const codes = report.errors.map((e) => e.code);
    expect(codes).toEqual(['ENAMEENCODING', 'ENAMEENCODING']);
    expect(codes).not.toContain('ENOENT');
    const [file, folder] = report.errors;
    expect(file.path).toBe('bad\uFFFD.txt');
    expect(file.message).toContain('bad\\xff.txt');
    expect(folder.path).toBe('sub/folder\uFFFD');
    expect(folder.message).toMatch(/not valid UTF-8.*folder/);
    expect(report.files.stored).toBe(3);

    const target = path.join(root, 'restored');
    await restoreBackup({ destination: path.join(root, 'dest'), setName: report.set, backupId: 'latest', target });
    expect(fs.readFileSync(path.join(target, 'good.txt'), 'utf8')).toBe('good\n');
    expect(fs.readFileSync(path.join(target, 'sub', 'caf\u00e9 \uFFFD.txt'), 'utf8')).toBe('a real U+FFFD is fine\n');
    expect(fs.readdirSync(target).sort()).toEqual(['good.txt', 'sub']);
  });
});
