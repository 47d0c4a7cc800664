import type { EntryStats } from '../../scan/walk';
/**
 * Tar headers for the tar.gz format (see sink.ts for the format): byte for byte what tar-stream 3
 * writes for the same entries (test/engine/tar-headers.test.ts compares).
 */
export const TAR_BLOCK = 512;
const MAX_HEADER_SECONDS = 2 ** 31 - 1;
/** ustar's 7 octal digits for uid/gid. */
const MAX_HEADER_ID = 0o7777777;
/** Two zero blocks end a tar archive. */
export const END_OF_TAR = Buffer.alloc(2 * TAR_BLOCK);

/** `size` rounded up to whole 512-byte tar blocks. */
export const padded = (size: number): number => size + ((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);

// Tar headers, byte for byte what tar-stream 3 (which archiver 7 wrote with in earlier versions of
// this module) writes for the same entries, so archives of every version are alike: ustar, a pax `path` record when the
// name is not ASCII or does not fit ustar's name/prefix split, base-256 sizes past 11 octal digits.

const OCTAL_ZEROS = '0000000000000000000';
const OCTAL_SEVENS = '7777777777777777777';

/** tar-stream's encodeOct: `digits` octal digits and a space; all sevens when it does not fit. */
function octal(value: number, digits: number): string {
  const text = value.toString(8);
  if (text.length > digits) return `${OCTAL_SEVENS.slice(0, digits)} `;
  return `${OCTAL_ZEROS.slice(0, digits - text.length)}${text} `;
}

/** What a member header says besides name and size. */
export interface MemberMeta {
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds. */
  mtime: number;
}

/** What of a file's stats a member header says. */
export type HeaderStats = Pick<EntryStats, 'mode' | 'uid' | 'gid' | 'mtimeMs'>;

export function memberMeta(stats: HeaderStats): MemberMeta {
  return {
    // tar-stream writes 0644 for a mode of 0.
    mode: stats.mode & 0o7777 || 0o644,
    uid: stats.uid <= MAX_HEADER_ID ? stats.uid : 0,
    gid: stats.gid <= MAX_HEADER_ID ? stats.gid : 0,
    // Clamped to 1970..2038.
    mtime: Math.min(Math.max(Math.floor(stats.mtimeMs / 1000), 0), MAX_HEADER_SECONDS),
  };
}

/** The header(s) one member needs: a ustar name/prefix split, or a pax `path` record. */
export interface HeaderPlan {
  ustar?: [name: string, prefix: string];
  pax?: Buffer;
  /** Hard link or symlink: the link name (in the ustar field, or as a pax `linkpath`). */
  linkname?: string;
  /** Bytes of header before the member's data. */
  length: number;
}

/** tar-stream's split: leading folders move to the prefix until the name fits 100 bytes. */
export function ustarName(rel: string): [string, string] | undefined {
  if (Buffer.byteLength(rel) !== rel.length) return undefined; // not ASCII
  let name = rel;
  let prefix = '';
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i === -1) return undefined;
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (prefix.length > 155) return undefined;
  return [name, prefix];
}

/** A pax record, `<length> <text>`, its length counting itself (tar-stream's addLength). */
export function paxRecord(text: string): string {
  const len = Buffer.byteLength(text);
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
  if (len + digits >= Math.pow(10, digits)) digits++;
  return `${len + digits}${text}`;
}

export function planHeader(rel: string, linkname?: string): HeaderPlan {
  const ustar = ustarName(rel);
  // tar-stream: a link name over 100 bytes (or a name that does not fit ustar) takes the pax form, `path` and `linkpath`.
  if (ustar !== undefined && (linkname === undefined || Buffer.byteLength(linkname) <= 100)) return { ustar, linkname, length: TAR_BLOCK };
  const pax = Buffer.from(paxRecord(` path=${rel}\n`) + (linkname ? paxRecord(` linkpath=${linkname}\n`) : ''));
  return { pax, linkname, length: 2 * TAR_BLOCK + padded(pax.length) };
}

/** ustar type flags the archive uses: a regular file, a hard link, a symlink, a folder, a pax header. */
export const TYPE_FILE = 0;
export const TYPE_LINK = 1;
export const TYPE_SYMLINK = 2;
export const TYPE_DIR = 5;
export const TYPE_PAX = 72;

/** One 512-byte ustar header at `buffer[at]`. */
export function writeUstar(buffer: Buffer, at: number, name: string, prefix: string, meta: MemberMeta, size: number, typeflag: number, linkname?: string): void {
  buffer.fill(0, at, at + TAR_BLOCK);
  buffer.write(name, at, 'latin1');
  buffer.write(octal(meta.mode, 6), at + 100, 'latin1');
  buffer.write(octal(meta.uid, 6), at + 108, 'latin1');
  buffer.write(octal(meta.gid, 6), at + 116, 'latin1');
  if (size.toString(8).length > 11) {
    // base-256 (GNU), as tar-stream does for 8 GiB and more
    buffer[at + 124] = 0x80;
    let num = size;
    for (let i = 11; i > 0; i--) {
      buffer[at + 124 + i] = num & 0xff;
      num = Math.floor(num / 0x100);
    }
  } else {
    buffer.write(octal(size, 11), at + 124, 'latin1');
  }
  buffer.write(octal(meta.mtime, 11), at + 136, 'latin1');
  buffer[at + 156] = 0x30 + typeflag;
  if (linkname) buffer.write(linkname, at + 157, 100, 'utf8');
  buffer.write('ustar\u000000', at + 257, 'latin1');
  buffer.write(octal(0, 6), at + 329, 'latin1');
  buffer.write(octal(0, 6), at + 337, 'latin1');
  if (prefix) buffer.write(prefix, at + 345, 'latin1');
  // The checksum counts its own field as spaces.
  let sum = 8 * 0x20;
  for (let i = at; i < at + 148; i++) sum += buffer[i];
  for (let i = at + 156; i < at + TAR_BLOCK; i++) sum += buffer[i];
  buffer.write(octal(sum, 6), at + 148, 'latin1');
}

/** Writes `plan.length` bytes of header for a member of `size` bytes (type `typeflag`) at `buffer[at]`. */
export function writeHeader(buffer: Buffer, at: number, plan: HeaderPlan, meta: MemberMeta, size: number, typeflag = TYPE_FILE): void {
  if (plan.ustar !== undefined) {
    writeUstar(buffer, at, plan.ustar[0], plan.ustar[1], meta, size, typeflag, plan.linkname);
    return;
  }
  // tar-stream's pax form: a `PaxHeader` header, the record, padding, then the member's header, also
  // named `PaxHeader` (both with the link name `PaxHeader` when the member has a link name).
  const pax = plan.pax as Buffer;
  const linkname = plan.linkname ? 'PaxHeader' : undefined;
  writeUstar(buffer, at, 'PaxHeader', '', meta, pax.length, TYPE_PAX, linkname);
  pax.copy(buffer, at + TAR_BLOCK);
  const next = at + TAR_BLOCK + padded(pax.length);
  buffer.fill(0, at + TAR_BLOCK + pax.length, next);
  writeUstar(buffer, next, 'PaxHeader', '', meta, size, typeflag, linkname);
}

/** The header bytes (ustar, or pax and ustar) that precede a member of `size` bytes named `rel`. */
export function tarHeader(rel: string, stats: HeaderStats, size: number): Buffer {
  const plan = planHeader(rel);
  const header = Buffer.allocUnsafe(plan.length);
  writeHeader(header, 0, plan, memberMeta(stats), size);
  return header;
}

/**
 * A member without data: a folder, a symlink (`linkname`: its text) or a hard link (`linkname`:
 * the path of the first name of the inode, a member earlier in the same archive).
 */
export interface TreeMember {
  type: 'dir' | 'symlink' | 'link';
  linkname?: string;
}

const TREE_TYPES = { dir: TYPE_DIR, symlink: TYPE_SYMLINK, link: TYPE_LINK } as const;

/** The header bytes of a folder, symlink or hard-link member, as tar-stream writes them. */
export function treeHeader(rel: string, stats: HeaderStats, member: TreeMember): Buffer {
  const plan = planHeader(rel, member.linkname);
  const header = Buffer.allocUnsafe(plan.length);
  writeHeader(header, 0, plan, treeMeta(stats, member.type), 0, TREE_TYPES[member.type]);
  return header;
}

/** tar-stream writes 0755 for a folder of mode 0 (and 0644 for anything else). */
function treeMeta(stats: HeaderStats, type: TreeMember['type']): MemberMeta {
  const meta = memberMeta(stats);
  return type === 'dir' && (stats.mode & 0o7777) === 0 ? { ...meta, mode: 0o755 } : meta;
}

