import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as xattr from '@napi-rs/xattr';
import type { BackupReport } from '../../nodes/Backup/engine';
import { restoreBackup, runBackup } from '../../nodes/Backup/engine';
import { testIf } from '../helpers/capabilities';
import { dirEntry, fileEntry, forgeBackup } from '../helpers/forge';
import { readManifestLines, tempDirs } from '../helpers/fixtures';

// On the root file system, not a tmpfs: older kernels' tmpfs keeps no user.* attributes.
const dirs = tempDirs();
afterEach(() => dirs.cleanup());

function userXattrsUnavailable(): string | undefined {
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-xattr-probe-'));
  try {
    xattr.setAttributeSync(probe, 'user.probe', '1');
    return undefined;
  } catch (error) {
    return `this file system keeps no user.* extended attributes (${String(error)})`;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

function toolMissing(tool: string): string | undefined {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'pipe' });
    return undefined;
  } catch {
    return `${tool} is not installed (Debian: apt-get install acl)`;
  }
}

const noXattrs = userXattrsUnavailable();
const withXattrs = testIf(noXattrs);
const withAcl = testIf(noXattrs ?? toolMissing('setfacl'));

async function backup(src: string, dest: string, extra: Record<string, unknown> = {}): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, setName: 'set', type: 'full', ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

const get = (file: string, name: string): string | undefined => xattr.getAttributeSync(file, name)?.toString() ?? undefined;

describe('extended attributes', () => {
  const eachFormat = noXattrs === undefined ? test.each(['folder', 'tar.gz'] as const) : test.skip.each(['folder', 'tar.gz'] as const);
  eachFormat(`user.* attributes of files and folders are recorded and restored (%s)${noXattrs === undefined ? '' : ` - SKIPPED: ${noXattrs}`}`, async (format) => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await fsp.mkdir(path.join(src, 'sub'), { recursive: true });
    await fsp.writeFile(path.join(src, 'sub', 'a.txt'), 'a');
    await fsp.writeFile(path.join(src, 'plain.txt'), 'no attributes');
    await fsp.writeFile(path.join(src, 'ro.txt'), 'read-only');
    xattr.setAttributeSync(path.join(src, 'sub', 'a.txt'), 'user.origin', 'from the test');
    xattr.setAttributeSync(path.join(src, 'sub', 'a.txt'), 'user.binary', Buffer.from([0, 1, 255]));
    xattr.setAttributeSync(path.join(src, 'sub'), 'user.folder', 'yes');
    xattr.setAttributeSync(path.join(src, 'ro.txt'), 'user.ro', 'kept');
    await fsp.chmod(path.join(src, 'ro.txt'), 0o444);
    const dest = path.join(root, 'dest');
    const report = await backup(src, dest, { format });
    expect(report.notices).toEqual([]);
    const lines = await readManifestLines(path.join(dest, 'set', report.backupId ?? ''));
    expect(lines[0]).toMatchObject({ xattrs: true });
    const byPath = new Map(lines.map((l) => [l.path, l]));
    expect(byPath.get('sub/a.txt')?.xattrs).toEqual({ 'user.binary': Buffer.from([0, 1, 255]).toString('base64'), 'user.origin': Buffer.from('from the test').toString('base64') });
    expect(byPath.get('sub')?.xattrs).toEqual({ 'user.folder': Buffer.from('yes').toString('base64') });
    expect(byPath.get('plain.txt')).not.toHaveProperty('xattrs');

    const target = path.join(root, 'target');
    const restored = await restoreBackup({ destination: dest, setName: 'set', target });
    expect(restored.errors).toEqual([]);
    expect(restored.notices).toEqual([]);
    expect(get(path.join(target, 'sub', 'a.txt'), 'user.origin')).toBe('from the test');
    expect(xattr.getAttributeSync(path.join(target, 'sub', 'a.txt'), 'user.binary')).toEqual(Buffer.from([0, 1, 255]));
    expect(get(path.join(target, 'sub'), 'user.folder')).toBe('yes');
    expect(get(path.join(target, 'ro.txt'), 'user.ro')).toBe('kept');
    expect((await fsp.stat(path.join(target, 'ro.txt'))).mode & 0o777).toBe(0o444);
    expect(xattr.listAttributesSync(path.join(target, 'plain.txt'))).toEqual([]);
  });

  withAcl('POSIX ACLs (access and default) come back after restore', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await fsp.mkdir(path.join(src, 'shared'), { recursive: true });
    await fsp.writeFile(path.join(src, 'shared', 'f.txt'), 'f');
    execFileSync('setfacl', ['-m', 'u:nobody:r', path.join(src, 'shared', 'f.txt')]);
    execFileSync('setfacl', ['-d', '-m', 'u:nobody:rx', path.join(src, 'shared')]);
    const dest = path.join(root, 'dest');
    await backup(src, dest, { format: 'tar.gz' });
    const target = path.join(root, 'target');
    await restoreBackup({ destination: dest, setName: 'set', target });
    const acl = (p: string, ...flags: string[]): string => execFileSync('getfacl', ['--omit-header', '--absolute-names', ...flags, p]).toString();
    expect(acl(path.join(target, 'shared', 'f.txt'))).toContain('user:nobody:r--');
    expect(acl(path.join(target, 'shared'), '--default')).toContain('user:nobody:r-x');
    expect(acl(path.join(target, 'shared', 'f.txt'))).toBe(acl(path.join(src, 'shared', 'f.txt')));
  });

  withXattrs('an unchanged entry carries its attributes forward; an attribute-only change makes a backup and is recorded', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await fsp.mkdir(src);
    await fsp.writeFile(path.join(src, 'keep.txt'), 'k');
    await fsp.writeFile(path.join(src, 'other.txt'), 'o');
    xattr.setAttributeSync(path.join(src, 'keep.txt'), 'user.v', '1');
    const dest = path.join(root, 'dest');
    await backup(src, dest);
    // Old enough that the next runs trust metadata (outside the racy window).
    const old = new Date(Date.now() - 10_000);
    await fsp.utimes(path.join(src, 'other.txt'), old, old);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await fsp.writeFile(path.join(src, 'other.txt'), 'changed');
    const second = await backup(src, dest, { type: 'incremental' });
    expect(second.files.unchanged).toBeGreaterThanOrEqual(1);
    const lines = await readManifestLines(path.join(dest, 'set', second.backupId ?? ''));
    expect(lines.find((l) => l.path === 'keep.txt')?.xattrs).toEqual({ 'user.v': Buffer.from('1').toString('base64') });

    xattr.setAttributeSync(path.join(src, 'keep.txt'), 'user.v', '2');
    const third = await backup(src, dest, { type: 'incremental' });
    expect(third.skipped).toBe(false);
    expect(third.files.changed).toBe(1);
    const after = await readManifestLines(path.join(dest, 'set', third.backupId ?? ''));
    expect(after.find((l) => l.path === 'keep.txt')?.xattrs).toEqual({ 'user.v': Buffer.from('2').toString('base64') });
  });

  withXattrs('a backup made before xattrs were recorded: the next run reads the attributes of unchanged files too', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await fsp.mkdir(src);
    await fsp.writeFile(path.join(src, 'a.txt'), 'a');
    await fsp.writeFile(path.join(src, 'b.txt'), 'b');
    xattr.setAttributeSync(path.join(src, 'a.txt'), 'user.v', 'old');
    const old = new Date(Date.now() - 10_000);
    for (const f of ['a.txt', 'b.txt']) await fsp.utimes(path.join(src, f), old, old);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const dest = path.join(root, 'dest');
    const first = await backup(src, dest);
    // Rewrite its manifest as the release before this one wrote it: no header flag, no entry field.
    const manifest = path.join(dest, 'set', first.backupId ?? '', 'manifest.jsonl.gz');
    const lines = gunzipSync(await fsp.readFile(manifest)).toString().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const line of lines) delete line.xattrs;
    await fsp.writeFile(manifest, gzipSync(`${lines.map((l) => JSON.stringify(l)).join('\n')}\n`));
    await fsp.writeFile(path.join(src, 'b.txt'), 'b changed');
    const next = await backup(src, dest, { type: 'incremental' });
    expect(next.files).toMatchObject({ changed: 1, unchanged: 1 });
    const now = await readManifestLines(path.join(dest, 'set', next.backupId ?? ''));
    expect(now.find((l) => l.path === 'a.txt')?.xattrs).toEqual({ 'user.v': Buffer.from('old').toString('base64') });
    // And the old-format backup itself still restores.
    const report = await restoreBackup({ destination: dest, setName: 'set', backupId: first.backupId ?? '', target: path.join(root, 'target') });
    expect(report.errors).toEqual([]);
  });

  // A user restoring their own read-only file: user.* needs write access, so restore lends it for the moment.
  testIf(noXattrs ?? (process.getuid?.() === 0 ? undefined : 'needs root, to run the restore as the user nobody'))(
    'a user restores the attributes of a read-only file and folder, and their modes stay', async () => {
      const root = await dirs.make();
      await fsp.chmod(root, 0o755);
      const src = path.join(root, 'src');
      await fsp.mkdir(path.join(src, 'ro-dir'), { recursive: true });
      await fsp.writeFile(path.join(src, 'ro-dir', 'ro.txt'), 'r');
      xattr.setAttributeSync(path.join(src, 'ro-dir', 'ro.txt'), 'user.f', 'file');
      xattr.setAttributeSync(path.join(src, 'ro-dir'), 'user.d', 'dir');
      await fsp.chmod(path.join(src, 'ro-dir', 'ro.txt'), 0o444);
      await fsp.chmod(path.join(src, 'ro-dir'), 0o555);
      const dest = path.join(root, 'dest');
      await backup(src, dest);
      const target = path.join(root, 'target');
      await fsp.mkdir(target);
      const nobody = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
      const nogroup = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
      await fsp.chown(target, nobody, nogroup);
      // The built engine in a child process that drops to nobody before it loads (IS_ROOT is false there).
      const engine = path.resolve(__dirname, '../../dist/nodes/Backup/engine/index.js');
      const script = `process.setgid(${nogroup}); process.setuid(${nobody});
        require(${JSON.stringify(engine)}).restoreBackup({ destination: ${JSON.stringify(dest)}, setName: 'set', target: ${JSON.stringify(target)} })
          .then((r) => console.log(JSON.stringify({ errors: r.errors, notices: r.notices })), (e) => { console.error(String(e)); process.exit(1); });`;
      const out = JSON.parse(execFileSync(process.execPath, ['-e', script]).toString()) as { errors: unknown[]; notices: string[] };
      expect(out).toEqual({ errors: [], notices: [] });
      expect(get(path.join(target, 'ro-dir', 'ro.txt'), 'user.f')).toBe('file');
      expect(get(path.join(target, 'ro-dir'), 'user.d')).toBe('dir');
      expect((await fsp.stat(path.join(target, 'ro-dir', 'ro.txt'))).mode & 0o777).toBe(0o444);
      expect((await fsp.stat(path.join(target, 'ro-dir'))).mode & 0o777).toBe(0o555);
    },
  );

  test('attributes restore cannot set are one notice with a count, not errors, and the files are restored', async () => {
    const root = await dirs.make();
    const id = '20260101T000000000Z-full';
    // "bogus." is no xattr namespace: every file system refuses it (EOPNOTSUPP), as one without xattrs would.
    const entries = [dirEntry('d'), { ...fileEntry('d/a.txt', 'a', id), xattrs: { 'bogus.x': 'AA==' } }, { ...fileEntry('d/b.txt', 'b', id), xattrs: { 'bogus.y': 'AA==', 'bogus.z': 'AA==' } }];
    await forgeBackup(path.join(root, 'dest', 'set'), id, entries, { 'd/a.txt': 'a', 'd/b.txt': 'b' });
    const target = path.join(root, 'target');
    const report = await restoreBackup({ destination: path.join(root, 'dest'), setName: 'set', target });
    expect(report.errors).toEqual([]);
    expect(report.files.restored).toBe(2);
    expect(report.notices).toHaveLength(1);
    expect(report.notices[0]).toMatch(/^Extended attributes of 2 entries were not all restored: 3 /);
    expect(report.summary).toContain(report.notices[0]);
    expect(await fsp.readFile(path.join(target, 'd', 'b.txt'), 'utf8')).toBe('b');
  });

  test('a malformed xattrs field is a damaged manifest', async () => {
    const root = await dirs.make();
    const id = '20260101T000000000Z-full';
    await forgeBackup(path.join(root, 'dest', 'set'), id, [{ ...fileEntry('a.txt', 'a', id), xattrs: { 'user.x': 12 } }], { 'a.txt': 'a' });
    await expect(restoreBackup({ destination: path.join(root, 'dest'), setName: 'set', target: path.join(root, 'target') })).rejects.toMatchObject({ code: 'MANIFEST_CORRUPT' });
  });
});
