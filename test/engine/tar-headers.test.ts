/**
 * README and targz.ts say the engine's tar headers are byte for byte what tar-stream writes for the
 * same entries (so archives written before and after the engine wrote its own headers are alike,
 * and tools that read tar-stream's archives read ours). This compares them: the engine's
 * tarHeader() against the header bytes of tar-stream's pack() for names that take each path
 * through the encoder (ustar, ustar prefix split, pax), and for modes, owners, mtimes and sizes.
 */
import { pack } from 'tar-stream';
import type { TreeMember } from '../../nodes/Backup/engine/formats/tar/header';
import { tarHeader, treeHeader } from '../../nodes/Backup/engine/formats/tar/header';

interface Case {
  title: string;
  name: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since 1970. */
  mtime?: number;
  size?: number;
}

const LONG_FOLDERS = `${'long-folder-name/'.repeat(7)}leaf.txt`;

const CASES: Case[] = [
  { title: 'a short ASCII name', name: 'docs/report.pdf' },
  { title: 'a name of exactly 100 bytes', name: 'n'.repeat(100) },
  { title: 'a name of 101 bytes with no slash (pax)', name: 'n'.repeat(101) },
  { title: 'a long path split into ustar prefix and name', name: LONG_FOLDERS },
  { title: 'a 250-byte file name (pax)', name: `${'n'.repeat(246)}.txt` },
  { title: 'a path whose prefix would exceed 155 bytes (pax)', name: `${'p'.repeat(150)}/${'q'.repeat(10)}/${'r'.repeat(90)}` },
  { title: 'a non-ASCII name (pax)', name: '日本語/ファイル.txt' },
  { title: 'an emoji and a combining accent (pax)', name: '😀 e\u0301.txt' },
  { title: 'a pax record whose length gains a digit', name: 'x'.repeat(93) + 'é' },
  { title: 'backslashes and a colon, kept as they are', name: 'C:back\\slash' },
  { title: 'mode 0 (written as 0644)', name: 'zero-mode', mode: 0 },
  { title: 'setuid, setgid and sticky bits', name: 'special', mode: 0o7755 },
  { title: 'a private file', name: 'private', mode: 0o600 },
  { title: 'mtime 0', name: 'epoch', mtime: 0 },
  { title: 'the largest ustar mtime', name: 'y2038', mtime: 2 ** 31 - 1 },
  { title: 'a recent mtime', name: 'recent', mtime: 1_700_000_123 },
  { title: 'large uid and gid', name: 'owned', uid: 0o7777777, gid: 65534 },
  { title: 'an empty file', name: 'empty', size: 0 },
  { title: 'a size of 8 GiB - 1 (the largest octal size)', name: 'big', size: 8 * 1024 ** 3 - 1 },
  { title: 'a size of 10 GiB (base-256)', name: 'huge', size: 10 * 1024 ** 3 },
];

/** The header bytes tar-stream's pack() writes before the data of an entry. */
async function tarStreamHeader(c: Required<Omit<Case, 'title'>>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  let total = 0;
  p.on('data', (chunk: unknown) => {
    const bytes = Buffer.from(chunk as Uint8Array);
    chunks.push(bytes);
    total += bytes.length;
  });
  // The entry's data is not needed: pack writes the header(s) as soon as the entry starts.
  const sink = p.entry({ name: c.name, type: 'file', mode: c.mode, uid: c.uid, gid: c.gid, mtime: new Date(c.mtime * 1000), size: c.size });
  // Abandoning the entry makes both streams report it; that is expected here.
  sink.on('error', () => undefined);
  p.on('error', () => undefined);
  await new Promise((resolve) => setImmediate(resolve));
  sink.destroy();
  p.destroy();
  return Buffer.concat(chunks, total);
}

describe("the engine's tar headers are byte for byte tar-stream's", () => {
  test.each(CASES)('$title', async (c) => {
    const full = { mode: 0o644, uid: 1000, gid: 1000, mtime: 1_600_000_000, size: 12_345, ...c };
    const ours = tarHeader(full.name, { mode: full.mode, uid: full.uid, gid: full.gid, mtimeMs: full.mtime * 1000 }, full.size);
    const theirs = await tarStreamHeader(full);
    expect(ours.length % 512).toBe(0);
    expect(theirs.length).toBeGreaterThanOrEqual(ours.length);
    expect(ours.toString('hex')).toBe(theirs.subarray(0, ours.length).toString('hex'));
    // Nothing of tar-stream's header is left out: the next bytes it wrote (if any) are data, not header.
    expect(theirs.length === ours.length || theirs.subarray(ours.length).every((b) => b === 0)).toBe(true);
  });
});

interface TreeCase {
  title: string;
  name: string;
  member: TreeMember;
  mode: number;
}

const LONG_TARGET = `${'../'.repeat(20)}${'t'.repeat(50)}`;

const TREE_CASES: TreeCase[] = [
  { title: 'a folder', name: 'docs/sub', member: { type: 'dir' }, mode: 0o755 },
  { title: 'a private folder', name: 'private', member: { type: 'dir' }, mode: 0o700 },
  { title: 'a folder of mode 0 (written as 0755)', name: 'locked', member: { type: 'dir' }, mode: 0 },
  { title: 'a folder with a long path (prefix split)', name: LONG_FOLDERS, member: { type: 'dir' }, mode: 0o755 },
  { title: 'a folder with a non-ASCII name (pax)', name: '日本語', member: { type: 'dir' }, mode: 0o755 },
  { title: 'a relative symlink', name: 'link', member: { type: 'symlink', linkname: '../a/one' }, mode: 0o777 },
  { title: 'an absolute symlink', name: 'abs', member: { type: 'symlink', linkname: '/etc/passwd' }, mode: 0o777 },
  { title: 'a symlink with a 100-byte target', name: 'l100', member: { type: 'symlink', linkname: 'x'.repeat(100) }, mode: 0o777 },
  { title: 'a symlink with a target over 100 bytes (pax linkpath)', name: 'long-target', member: { type: 'symlink', linkname: LONG_TARGET }, mode: 0o777 },
  { title: 'a symlink with a non-ASCII target', name: 'to-é', member: { type: 'symlink', linkname: 'é/ファイル' }, mode: 0o777 },
  { title: 'a symlink with a non-ASCII name and a long target (pax path and linkpath)', name: 'é', member: { type: 'symlink', linkname: LONG_TARGET }, mode: 0o777 },
  { title: 'a hard link', name: 'b/second', member: { type: 'link', linkname: 'a/first' }, mode: 0o644 },
  { title: 'a hard link to a first name over 100 bytes (pax linkpath)', name: 'second', member: { type: 'link', linkname: LONG_FOLDERS }, mode: 0o600 },
];

async function tarStreamTreeHeader(c: TreeCase): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (chunk: unknown) => chunks.push(Buffer.from(chunk as Uint8Array)));
  const types = { dir: 'directory', symlink: 'symlink', link: 'link' } as const;
  const type = types[c.member.type];
  p.entry({ name: c.name, type, linkname: c.member.linkname, mode: c.mode, uid: 1000, gid: 1000, mtime: new Date(1_600_000_000_000), size: 0 });
  p.finalize();
  await new Promise<void>((resolve) => p.on('end', () => resolve()));
  const all = Buffer.concat(chunks);
  // Everything before the two zero blocks that end the archive.
  return all.subarray(0, all.length - 1024);
}

describe("folder, symlink and hard-link headers are byte for byte tar-stream's", () => {
  test.each(TREE_CASES)('$title', async (c) => {
    const ours = treeHeader(c.name, { mode: c.mode, uid: 1000, gid: 1000, mtimeMs: 1_600_000_000_000 }, c.member);
    const theirs = await tarStreamTreeHeader(c);
    expect(ours.toString('hex')).toBe(theirs.toString('hex'));
  });
});
