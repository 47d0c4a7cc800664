/**
 * Reads one data.tar.gz front to back, once, for restore and verify: seek() names in walk order
 * and it skips the members before each name unread; memory stays at a gzip member or two.
 *
 * Damage costs only what it touches. The gzip members come from memberReader.ts, which carries on
 * past a member (or sealed chunk) that fails its check; this reader then resumes at the next tar
 * header (where the index says, or the next valid header it finds in an archive without index) and
 * tells the names it could not reach apart from names the archive never held: a file the manifest
 * places in this archive, between the last member read before a lost part and the first one after,
 * is lost (`{ lost }`), not absent.
 */
import * as path from 'node:path';
import type { RandomAccess } from '../../destination/randomAccess';
import { openLocalRandomAccess, openRandomAccess } from '../../destination/randomAccess';
import type { Destination } from '../../destination/types';
import { ArchiveDamage, classify } from './damage';
import type { MemberEvent } from './memberReader';
import { readMembers } from './memberReader';
import { compareWalkOrder } from '../../paths';
import type { SetKey } from '../sealed';
import { SEALED_SUFFIX } from '../sealed';
import type { IndexFound, MemberIndex } from './memberIndex';
import { NO_HEADER, readIndex, readIndexOn } from './memberIndex';

const TAR_BLOCK = 512;
const USTAR = Buffer.from('ustar', 'latin1');
const ARCHIVE_FILE = 'data.tar.gz';

/** tar-stream's names for tar's type flags. */
const TYPES: Record<number, string> = {
  0: 'file', 1: 'link', 2: 'symlink', 3: 'character-device', 4: 'block-device', 5: 'directory', 6: 'fifo', 7: 'contiguous-file',
};

const padded = (size: number): number => size + ((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);

/** A numeric header field: octal text, or GNU base-256 when its first byte has the high bit. */
function numberField(block: Buffer, at: number, length: number): number {
  if (block[at] & 0x80) {
    let value = block[at] & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + block[at + i];
    return value;
  }
  const text = block.toString('latin1', at, at + length).replace(/[\0 ].*$/s, '').trim();
  const value = parseInt(text || '0', 8);
  return Number.isFinite(value) ? value : -1;
}

function checksumOk(block: Buffer, at = 0): boolean {
  let sum = 8 * 0x20;
  for (let i = at; i < at + 148; i++) sum += block[i];
  for (let i = at + 156; i < at + TAR_BLOCK; i++) sum += block[i];
  return numberField(block, at + 148, 8) === sum;
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function textField(block: Buffer, at: number, length: number): string {
  const end = block.indexOf(0, at);
  return block.toString('utf8', at, end === -1 || end > at + length ? at + length : end);
}

/** pax records (`<len> key=value\n`) that matter here: path and size. */
function paxFields(data: Buffer): { path?: string; size?: number } {
  const fields: { path?: string; size?: number } = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const length = parseInt(data.toString('latin1', at, space), 10);
    if (!(length > 0) || at + length > data.length) break;
    const record = data.toString('utf8', space + 1, at + length - 1);
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    if (key === 'path') fields.path = record.slice(eq + 1);
    else if (key === 'size' && /^\d+$/.test(record.slice(eq + 1))) fields.size = Number(record.slice(eq + 1));
    at += length;
  }
  return fields;
}

/** One member met by seek(); read() must be called before the next seek() to get its bytes. */
export interface TarMember {
  readonly name: string;
  /** tar-stream's type: `file` for a regular file. */
  readonly type: string;
  readonly size: number;
  /**
   * Streams the member's bytes to `onChunk` (awaited: back-pressure). `damaged`: some came from a
   * gzip member that failed its check (only the file's sha256 can tell whether they are right).
   * Throws ArchiveDamage when bytes of the member are lost; an error from onChunk is rethrown after
   * the member was drained, so the reader can go on to the next member.
   */
  read(onChunk: (chunk: Buffer) => unknown): Promise<{ damaged: boolean }>;
}

/**
 * `member`: found. `absent`: the archive does not hold the name. `lost`: the name would lie in a
 * part of the archive that is damaged. `damage`: the archive as a whole cannot be read (missing,
 * unreadable, its sealed header does not open).
 */
export type SeekResult = { member: TarMember } | { absent: true } | { lost: ArchiveDamage } | { damage: ArchiveDamage };

interface Header {
  name: string;
  type: string;
  size: number;
  /** A part of the archive was lost just before this header. */
  lostBefore: ArchiveDamage | undefined;
}

interface Reading {
  header: Header;
  left: number;
}

/** Where the archive's bytes and its index come from: a local file, or an object of a destination. */
export interface ArchiveSource {
  open(): Promise<RandomAccess>;
  index(): Promise<IndexFound>;
}

export class TarReader {
  private handle: Promise<RandomAccess> | undefined;
  private events: AsyncGenerator<MemberEvent> | undefined;
  private readonly parts: Buffer[] = [];
  private readonly flags: boolean[] = [];
  private queued = 0;
  /** Bytes to pass over before the next header (the rest of a member, its padding). */
  private skip = 0;
  private resyncing = false;
  /** A part lost since the last header handed out. */
  private lostSince: ArchiveDamage | undefined;
  private readonly damages: ArchiveDamage[] = [];
  private fatal: ArchiveDamage | undefined;
  private peeked: Header | undefined;
  private current: Reading | undefined;
  private endMarker = false;
  private eventsDone = false;
  /** `end`: seek() went past the archive's last member. */
  private ended = false;
  private pax: { path?: string; size?: number } = {};

  /** The archive of the backup folder `<setDir>/<backupId>`, opened with `key` in an encrypted set. */
  static forBackup(setDir: string, backupId: string, key: SetKey | undefined): TarReader {
    const dir = path.join(setDir, backupId);
    const file = path.join(dir, key === undefined ? ARCHIVE_FILE : `${ARCHIVE_FILE}${SEALED_SUFFIX}`);
    return new TarReader(file, `${backupId}/${path.basename(file)}`, key === undefined ? undefined : { key, label: `${backupId}/${ARCHIVE_FILE}` }, backupId);
  }

  /**
   * The archive of the backup `backupPrefix` (`<set>/<id>`) of a destination: a local folder reads
   * it with a FileHandle, a remote store by range requests with read-ahead (one front-to-back pass).
   */
  static onDestination(dest: Destination, backupPrefix: string, key: SetKey | undefined): TarReader {
    const backupId = path.posix.basename(backupPrefix);
    const name = `${backupPrefix}/${key === undefined ? ARCHIVE_FILE : `${ARCHIVE_FILE}${SEALED_SUFFIX}`}`;
    const source: ArchiveSource = { open: () => openRandomAccess(dest, name), index: () => readIndexOn(dest, backupPrefix, key, backupId) };
    return new TarReader(name, `${backupId}/${path.posix.basename(name)}`, key === undefined ? undefined : { key, label: `${backupId}/${ARCHIVE_FILE}` }, backupId, source);
  }

  /**
   * `label` names the archive in messages, e.g. `<id>/data.tar.gz`; the index is looked for beside
   * `file`, unless `source` says where both are.
   */
  constructor(
    readonly file: string,
    readonly label: string,
    private readonly seal?: { key: SetKey; label: string },
    backupId = path.basename(path.dirname(file)),
    private readonly source: ArchiveSource = { open: () => openLocalRandomAccess(file), index: () => readIndex(path.dirname(file), seal?.key, backupId) },
  ) {}

  /** The member named `name`, if the archive holds it. Names must come in walk order. */
  async seek(name: string): Promise<SeekResult> {
    try {
      await this.start();
      this.skipCurrent();
      for (;;) {
        if (this.peeked === undefined) {
          if (this.ended) return this.lostSince === undefined ? { absent: true } : { lost: this.lostSince };
          const next = await this.nextHeader();
          if (next === undefined) {
            this.ended = true;
            continue;
          }
          this.peeked = next;
        }
        const order = compareWalkOrder(this.peeked.name, name);
        if (order > 0) return this.peeked.lostBefore === undefined ? { absent: true } : { lost: this.peeked.lostBefore };
        const header = this.peeked;
        this.peeked = undefined;
        this.current = { header, left: header.size };
        if (order === 0) return { member: this.member(this.current) };
        // A member this pass does not need (a later backup replaced the file, or a padded one).
        this.skipCurrent();
      }
    } catch (error) {
      this.fatal ??= classify(error, this.label);
      return { damage: this.fatal };
    }
  }

  /**
   * Reads the rest of the archive, so every gzip member and the tar structure are checked to the
   * end. Returns the first damage met anywhere, if any.
   */
  async finish(): Promise<ArchiveDamage | undefined> {
    try {
      await this.start();
      this.skipCurrent();
      if (this.peeked !== undefined) this.skip += padded(this.peeked.size);
      this.peeked = undefined;
      while (!this.ended) {
        const next = await this.nextHeader();
        if (next === undefined) this.ended = true;
        else this.skip += padded(next.size);
      }
      while ((await this.pull()) !== 'end') this.clearQueue();
    } catch (error) {
      this.fatal ??= classify(error, this.label);
    }
    return this.fatal ?? this.damages[0];
  }

  close(): void {
    void this.events?.return(undefined).catch(() => undefined);
    void this.handle?.then((h) => h.close()).catch(() => undefined);
  }

  private async start(): Promise<void> {
    if (this.fatal !== undefined) throw this.fatal;
    if (this.events !== undefined) return;
    this.handle = this.source.open();
    const handle = await this.handle;
    const index = await this.loadIndex(handle);
    this.events = readMembers(handle, this.label, index, this.seal);
  }

  /** The archive's index, when it has one that opens and fits the archive; a damaged one is reported. */
  private async loadIndex(handle: RandomAccess): Promise<MemberIndex | undefined> {
    const found = await this.source.index();
    if ('absent' in found) return undefined;
    if ('damaged' in found) {
      this.note(new ArchiveDamage('CORRUPT', `${found.damaged}; ${this.label} was read without it`));
      return undefined;
    }
    const index = found.index;
    // An archive longer than its index says is not the one the index was written for.
    if (this.seal === undefined && handle.size > index.record(index.members).compressed) {
      this.note(new ArchiveDamage('CORRUPT', `${this.label} does not match its index (more bytes than it lists); read without it`));
      return undefined;
    }
    return index;
  }

  private note(damage: ArchiveDamage): void {
    if (!this.damages.includes(damage)) this.damages.push(damage);
  }

  private clearQueue(): void {
    this.parts.length = 0;
    this.flags.length = 0;
    this.queued = 0;
  }

  private push(bytes: Buffer, damaged: boolean): void {
    if (bytes.length === 0) return;
    this.parts.push(bytes);
    this.flags.push(damaged);
    this.queued += bytes.length;
  }

  /** The next event into the queue: `data` (possibly nothing queued, while resynchronising), `lost` or `end`. */
  private async pull(): Promise<'data' | 'lost' | 'end'> {
    if (this.eventsDone || this.events === undefined) return 'end';
    const next = await this.events.next();
    if (next.done === true) {
      this.eventsDone = true;
      return 'end';
    }
    const event = next.value;
    if ('lost' in event) {
      this.note(event.lost);
      this.lostSince ??= event.lost;
      this.resyncing = true;
      this.skip = 0;
      this.clearQueue();
      return 'lost';
    }
    if (event.damage !== undefined) this.note(event.damage);
    let bytes = event.bytes;
    if (this.resyncing) {
      if (event.at !== undefined && event.headerAt !== undefined) {
        // The index says where the next header starts: no guessing.
        this.clearQueue();
        if (event.headerAt === NO_HEADER || event.headerAt >= event.at + bytes.length) return 'data';
        bytes = bytes.subarray(event.headerAt - event.at);
        this.resyncing = false;
      } else {
        this.push(bytes, true);
        this.scanForHeader();
        return 'data';
      }
    }
    this.push(bytes, event.damage !== undefined);
    return 'data';
  }

  /** Without an index: drops queued bytes up to the next block that is a valid ustar header. */
  private scanForHeader(): void {
    const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.queued);
    this.clearQueue();
    let from = 257;
    for (;;) {
      const i = all.indexOf(USTAR, from);
      if (i === -1) {
        this.push(all.subarray(Math.max(0, all.length - TAR_BLOCK)), true);
        return;
      }
      const start = i - 257;
      if (start + TAR_BLOCK > all.length) {
        this.push(all.subarray(start), true);
        return;
      }
      if (checksumOk(all, start)) {
        this.resyncing = false;
        this.push(all.subarray(start), true);
        return;
      }
      from = i + 1;
    }
  }

  /** Queues at least `n` bytes: `ok`, or why not. */
  private async need(n: number): Promise<'ok' | 'lost' | 'end'> {
    while (this.queued < n || this.resyncing) {
      const got = await this.pull();
      if (got !== 'data') return got;
    }
    return 'ok';
  }

  /** Up to `max` queued bytes, from the first queued piece (no copy). */
  private takeSome(max: number): { bytes: Buffer; damaged: boolean } {
    const first = this.parts[0];
    const damaged = this.flags[0];
    if (first.length <= max) {
      this.parts.shift();
      this.flags.shift();
      this.queued -= first.length;
      return { bytes: first, damaged };
    }
    this.parts[0] = first.subarray(max);
    this.queued -= max;
    return { bytes: first.subarray(0, max), damaged };
  }

  /** Exactly `n` queued bytes (need(n) first). */
  private take(n: number): Buffer {
    const first = this.takeSome(n).bytes;
    if (first.length === n) return first;
    const out = Buffer.allocUnsafe(n);
    first.copy(out, 0);
    let done = first.length;
    while (done < n) {
      const more = this.takeSome(n - done).bytes;
      more.copy(out, done);
      done += more.length;
    }
    return out;
  }

  private skipCurrent(): void {
    if (this.current === undefined) return;
    this.skip += this.current.left + (padded(this.current.header.size) - this.current.header.size);
    this.current = undefined;
  }

  /** The events ran out: an archive without its end-of-archive blocks was cut short. */
  private endOfEvents(): undefined {
    if (!this.endMarker && this.damages.length === 0) {
      const damage = new ArchiveDamage('TRUNCATED', `${this.label} is truncated: it ends before the end-of-archive blocks`);
      this.note(damage);
      this.lostSince ??= damage;
    }
    return undefined;
  }

  /** The next member's header (pax and GNU long names applied), or undefined at the end. */
  private async nextHeader(): Promise<Header | undefined> {
    if (this.endMarker) return undefined;
    for (;;) {
      while (this.skip > 0 && !this.resyncing) {
        if (this.queued === 0) {
          if ((await this.pull()) === 'end') return this.endOfEvents();
          continue;
        }
        this.skip -= this.takeSome(this.skip).bytes.length;
      }
      const got = await this.need(TAR_BLOCK);
      if (got === 'lost') continue;
      if (got === 'end') return this.endOfEvents();
      const block = this.take(TAR_BLOCK);
      if (isZero(block)) {
        this.endMarker = true;
        return undefined;
      }
      if (!checksumOk(block)) {
        const damage = new ArchiveDamage('CORRUPT', `${this.label} is damaged: a tar header fails its checksum`);
        this.note(damage);
        this.lostSince ??= damage;
        this.pax = {};
        // Look for the next header from the byte after this one's start.
        this.parts.unshift(block.subarray(1));
        this.flags.unshift(true);
        this.queued += TAR_BLOCK - 1;
        this.resyncing = true;
        this.scanForHeader();
        continue;
      }
      const flag = block[156] === 0 ? 0 : block[156] - 48;
      const size = numberField(block, 124, 12);
      if (flag === 72 || flag === 55 || flag === 28 || flag === 30) {
        // pax (x), global pax (g), GNU long name (L, N): data that names or sizes the next member.
        const got = await this.need(padded(size));
        if (got === 'lost') continue;
        if (got === 'end') return this.endOfEvents();
        const data = this.take(padded(size)).subarray(0, size);
        if (flag === 72) this.pax = paxFields(data);
        else if (flag !== 55) this.pax = { ...this.pax, path: textField(data, 0, data.length) };
        continue;
      }
      let name = textField(block, 0, 100);
      // POSIX ustar (`ustar\0`) has a name prefix there; GNU tar (`ustar  `) keeps times in it.
      if (block.toString('latin1', 257, 263) === 'ustar\0') {
        const prefix = textField(block, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      let type = TYPES[flag] ?? 'unknown';
      if (flag === 0 && name.endsWith('/')) type = 'directory';
      const header: Header = { name: this.pax.path ?? name, type, size: this.pax.size ?? Math.max(0, size), lostBefore: this.lostSince };
      this.pax = {};
      this.lostSince = undefined;
      return header;
    }
  }

  private member(reading: Reading): TarMember {
    const { header } = reading;
    return {
      name: header.name,
      type: header.type,
      size: header.size,
      read: async (onChunk) => {
        if (this.current !== reading) throw new Error(`${header.name}: read after the reader moved on`);
        let damaged = false;
        let sinkError: { error: unknown } | undefined;
        while (reading.left > 0) {
          if (this.queued === 0) {
            const got = await this.pull();
            if (got === 'data') continue;
            this.current = undefined;
            const cause = got === 'lost' ? (this.lostSince as ArchiveDamage) : this.endOfEvents() ?? this.damages[0];
            const code = cause?.code ?? 'TRUNCATED';
            throw new ArchiveDamage(code, `part of its bytes lie in a damaged part of ${this.label}: ${cause?.message ?? 'it ends early'}`);
          }
          const { bytes, damaged: suspect } = this.takeSome(reading.left);
          reading.left -= bytes.length;
          damaged ||= suspect;
          if (sinkError !== undefined) continue;
          try {
            await onChunk(bytes);
          } catch (error) {
            sinkError = { error };
          }
        }
        this.skipCurrent();
        if (sinkError !== undefined) throw sinkError.error;
        return { damaged };
      },
    };
  }
}
