/**
 * Reads the gzip members of a data.tar.gz one by one and hands their inflated bytes on, carrying
 * on past damage: a member that fails its check costs its own bytes (and not even those, when they
 * inflate to the right length: the manifest's sha256 of each file then decides), never the rest of
 * the archive. The same for a sealed chunk that fails its tag in an encrypted set.
 *
 * Where members start comes from the archive's index (memberIndex.ts), which also says where the tar
 * stream resumes after a lost member. A backup written before the index (or whose index is damaged)
 * is read by looking for the gzip header this writer (and zlib) puts at each member's start; after a
 * loss, the tar reader then looks for the next tar header itself.
 */
import type { RandomAccess } from '../../destination/randomAccess';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { ArchiveDamage } from './damage';
import type { SealedFileError, SealedPiece, SetKey } from '../sealed';
import { openChunks } from '../sealed';
import type { MemberIndex } from './memberIndex';

/** Inflated bytes, in archive order; `at` is their tar offset when known. */
export interface InflatedBytes {
  bytes: Buffer;
  at: number | undefined;
  /** Tar offset of the first header starting in these bytes, when the index says (NO_HEADER: none). */
  headerAt: number | undefined;
  /** Set when the member failed its check: the bytes may be wrong (each file's sha256 decides). */
  damage?: ArchiveDamage;
}

/** Bytes are missing from the tar stream here: the tar reader resynchronises after it. */
export interface LostBytes {
  lost: ArchiveDamage;
}

export type MemberEvent = InflatedBytes | LostBytes;

// zlib writes `1f 8b 08`, no flags and a zero mtime at the start of every member it makes.
const MEMBER_MAGIC = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00]);
const GZIP_HEADER = 10;
const GZIP_TRAILER = 8;
/** A member (compressed or inflated) larger than this is not one this writer made: damage. */
const MAX_MEMBER = 64 << 20;
const READ_BYTES = 1 << 20;

const gunzip = promisify<zlib.InputType, zlib.ZlibOptions, Buffer>(zlib.gunzip);

type Piece = { at: number; bytes: Buffer } | { at: number; lostUntil: number | undefined; error: SealedFileError | ArchiveDamage };

async function* plainPieces(handle: Pick<RandomAccess, 'read'>): AsyncGenerator<Piece> {
  for (let at = 0; ; ) {
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, READ_BYTES, at);
    if (bytesRead === 0) return;
    yield { at, bytes: buffer.subarray(0, bytesRead) };
    at += bytesRead;
  }
}

/**
 * The compressed stream as a sliding window of contiguous bytes, fed by pieces read in order;
 * stops at a lost part (a sealed chunk that failed) or the end.
 */
class Window {
  bytes: Buffer = Buffer.alloc(0);
  /** Stream offset of bytes[0]. */
  at = 0;
  /** The lost part right after the window, once met. */
  hole: { at: number; until: number | undefined; damage: ArchiveDamage } | undefined;
  ended = false;

  constructor(
    private readonly pieces: AsyncIterator<Piece>,
    private readonly label: string,
  ) {}

  get end(): number {
    return this.at + this.bytes.length;
  }

  /** Pulls the next piece into the window; false at a hole or the end. */
  async more(): Promise<boolean> {
    if (this.hole !== undefined || this.ended) return false;
    const next = await this.pieces.next();
    if (next.done === true) {
      this.ended = true;
      return false;
    }
    const piece = next.value;
    if ('bytes' in piece) {
      // Pieces come in order; the window may already start past this one's beginning (dropped).
      const fresh = piece.bytes.subarray(Math.max(0, this.end - piece.at));
      if (fresh.length === 0) return true;
      if (this.bytes.length === 0) {
        this.at = Math.max(this.at, piece.at);
        this.bytes = fresh;
      } else this.bytes = Buffer.concat([this.bytes, fresh]);
      return true;
    }
    const error = piece.error;
    const damage = error instanceof ArchiveDamage ? error : new ArchiveDamage(error.code === 'SEAL_TRUNCATED' ? 'TRUNCATED' : 'CORRUPT', error.message, { cause: error });
    this.hole = { at: piece.at, until: piece.lostUntil, damage };
    return false;
  }

  /** Makes the window hold at least up to `offset` if it can; true when it does. */
  async fill(offset: number): Promise<boolean> {
    while (this.end < offset) if (!(await this.more())) return false;
    return true;
  }

  /** Forgets bytes before `offset`. */
  drop(offset: number): void {
    if (offset <= this.at) return;
    this.bytes = this.bytes.subarray(Math.min(offset - this.at, this.bytes.length));
    this.at = Math.max(this.at, offset);
  }

  /** Steps over the hole: the window restarts after it (the end of the stream when its end is unknown). */
  skipHole(): ArchiveDamage | undefined {
    const hole = this.hole;
    if (hole === undefined) return undefined;
    this.hole = undefined;
    this.bytes = Buffer.alloc(0);
    if (hole.until === undefined) this.ended = true;
    else this.at = hole.until;
    return hole.damage;
  }

  /** Where the bytes stop: a hole's damage, or a truncation when the stream ended early. */
  cutDamage(what: string): ArchiveDamage {
    return this.hole?.damage ?? new ArchiveDamage('TRUNCATED', `${this.label} is truncated: ${what}`);
  }

  /** The next member magic at or after `from` in the window (pulling more as needed), or undefined. */
  async findMagic(from: number, limit = MAX_MEMBER): Promise<number | undefined> {
    let searched = from;
    for (;;) {
      const i = this.bytes.indexOf(MEMBER_MAGIC, Math.max(0, searched - this.at));
      if (i !== -1) return this.at + i;
      searched = Math.max(from, this.end - MEMBER_MAGIC.length + 1);
      if (this.end - from > limit || !(await this.more())) return undefined;
    }
  }
}

/** Where a member's deflate data starts, after its gzip header; undefined when it has none. */
function bodyStart(member: Buffer): number | undefined {
  if (member.length < GZIP_HEADER || member[0] !== 0x1f || member[1] !== 0x8b || member[2] !== 8) return undefined;
  const flags = member[3];
  let at = GZIP_HEADER;
  if (flags & 4) at += 2 + (member.length >= at + 2 ? member.readUInt16LE(at) : 0);
  for (const bit of [8, 16]) {
    if (flags & bit) {
      const zero = member.indexOf(0, at);
      if (zero === -1) return undefined;
      at = zero + 1;
    }
  }
  if (flags & 2) at += 2;
  return at <= member.length ? at : undefined;
}

/**
 * Whatever a damaged or cut member still inflates to, up to the first error (raw deflate, in small
 * pieces, so little is lost before it): the bytes are unchecked, each file's sha256 decides.
 */
function salvage(member: Buffer, complete: boolean): Promise<Buffer> {
  const start = bodyStart(member);
  if (start === undefined) return Promise.resolve(Buffer.alloc(0));
  const body = member.subarray(start, complete ? Math.max(start, member.length - GZIP_TRAILER) : member.length);
  return new Promise((resolve) => {
    const inflate = zlib.createInflateRaw({ chunkSize: 16 * 1024, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const parts: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      inflate.destroy();
      resolve(Buffer.concat(parts, size));
    };
    inflate.on('data', (part: Buffer) => {
      parts.push(part);
      size += part.length;
      if (size > MAX_MEMBER) finish();
    });
    inflate.on('error', finish);
    inflate.on('end', finish);
    inflate.end(body);
  });
}

/**
 * A whole member, inflated and checked (gzip's CRC and length, and `expected` when the index says).
 * `short`: the bytes ended inside the member's deflate data (the end given was not its end).
 */
async function inflateMember(member: Buffer, expected: number | undefined): Promise<{ out?: Buffer; short?: boolean }> {
  let out: Buffer;
  try {
    out = await gunzip(member, { chunkSize: 256 * 1024, maxOutputLength: MAX_MEMBER });
  } catch (error) {
    return { short: (error as NodeJS.ErrnoException).code === 'Z_BUF_ERROR' };
  }
  if (expected !== undefined) return out.length === expected ? { out } : {};
  // Only one member: its own trailer's length must be the last four bytes given.
  return member.length >= GZIP_TRAILER && member.readUInt32LE(member.length - 4) === out.length % 2 ** 32 ? { out } : {};
}

/**
 * The members of one archive, inflated in order. `handle` is data.tar.gz (or data.tar.gz.enc with
 * `seal`), a local FileHandle or a remote object read by ranges (destination/randomAccess.ts); `index` is its member index when it has a good one. Errors reading the file itself
 * (EIO, a sealed header that does not open) are thrown: nothing after them can be trusted.
 */
export async function* readMembers(
  handle: Pick<RandomAccess, 'size' | 'read'>,
  label: string,
  index: MemberIndex | undefined,
  seal: { key: SetKey; label: string } | undefined,
): AsyncGenerator<MemberEvent> {
  const pieces: AsyncIterator<Piece> = seal === undefined ? plainPieces(handle) : (openChunks(handle, seal.key, seal.label, label) as AsyncGenerator<SealedPiece>);
  const window = new Window(pieces, label);
  if (index !== undefined) yield* byIndex(window, index, label);
  else yield* byScanning(window, label);
}

function damaged(label: string, what: string): ArchiveDamage {
  return new ArchiveDamage('CORRUPT', `${label} is damaged: ${what}`);
}

async function* byIndex(window: Window, index: MemberIndex, label: string): AsyncGenerator<MemberEvent> {
  for (let k = 0; k < index.members; k++) {
    const member = index.record(k);
    const next = index.record(k + 1);
    const expected = next.uncompressed - member.uncompressed;
    const where = `gzip member ${k} (bytes ${member.compressed} to ${next.compressed - 1})`;
    // The window must reach this member's first byte; a lost part that ends before it is stepped over.
    let headLost: ArchiveDamage | undefined;
    while (window.end <= member.compressed) {
      if (await window.more()) continue;
      const hole = window.hole;
      if (hole?.until !== undefined && hole.until <= member.compressed) {
        window.skipHole();
        continue;
      }
      headLost = hole?.damage ?? window.cutDamage(`${where} is missing`);
      break;
    }
    if (headLost !== undefined) {
      yield { lost: headLost };
      continue;
    }
    window.drop(member.compressed);
    const whole = await window.fill(next.compressed);
    const bytes = window.bytes.subarray(0, Math.min(window.bytes.length, next.compressed - window.at));
    const out = whole ? (await inflateMember(bytes, expected)).out : undefined;
    if (out !== undefined) {
      yield { bytes: out, at: member.uncompressed, headerAt: member.header };
      continue;
    }
    const damage = whole ? damaged(label, `${where} fails its check`) : window.cutDamage(`${where} is cut short`);
    const salvaged = await salvage(bytes, whole);
    const usable = salvaged.subarray(0, expected);
    if (usable.length > 0) yield { bytes: usable, at: member.uncompressed, headerAt: member.header, damage };
    // Longer or shorter than it should be: the damage put bytes in or took some out, so what follows
    // in this member is out of place; the tar reader resumes where the index says the next one starts.
    if (salvaged.length !== expected) yield { lost: damage };
  }
}

async function* byScanning(window: Window, label: string): AsyncGenerator<MemberEvent> {
  /** Tar offset of the next inflated byte, while no byte was lost. */
  let known: number | undefined = 0;
  let at = 0;
  for (;;) {
    await window.fill(at + MEMBER_MAGIC.length);
    if (window.end <= at) {
      const hole = window.skipHole();
      if (hole === undefined) return;
      yield { lost: hole };
      known = undefined;
      at = window.at;
      continue;
    }
    window.drop(at);
    if (!window.bytes.subarray(0, MEMBER_MAGIC.length).equals(MEMBER_MAGIC)) {
      // Not at a member's start: a damaged gzip header, or the inside of a lost member.
      const next = await window.findMagic(at + 1);
      yield { lost: damaged(label, `no gzip member starts at byte ${at}`) };
      known = undefined;
      at = next ?? window.end;
      if (next === undefined) window.drop(at);
      continue;
    }
    // The member ends where the next one starts. A member's deflate data can hold the magic
    // bytes (a stored .gz file): if inflating stops short, try the next candidate end.
    let end = await window.findMagic(at + MEMBER_MAGIC.length);
    let out: Buffer | undefined;
    const firstEnd = end ?? window.end;
    for (;;) {
      const stop = end ?? window.end;
      const inflated = await inflateMember(window.bytes.subarray(0, stop - window.at), undefined);
      out = inflated.out;
      if (out !== undefined || inflated.short !== true || end === undefined || end - at > MAX_MEMBER) break;
      end = await window.findMagic(end + 1);
    }
    if (out !== undefined) {
      yield { bytes: out, at: known, headerAt: undefined };
      if (known !== undefined) known += out.length;
      at = end ?? window.end;
      continue;
    }
    const cut = end === undefined && firstEnd === window.end;
    const damage = cut ? window.cutDamage(`the gzip member at byte ${at} is cut short`) : damaged(label, `the gzip member at byte ${at} fails its check`);
    const salvaged = await salvage(window.bytes.subarray(0, firstEnd - window.at), !cut);
    if (salvaged.length > 0) yield { bytes: salvaged, at: known, headerAt: undefined, damage };
    yield { lost: damage };
    known = undefined;
    at = firstEnd;
    window.drop(at);
  }
}
