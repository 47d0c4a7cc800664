/**
 * Holes: a copy skips all-zero blocks (seeks past them) and sets its length at the end, so a
 * sparse source stays sparse in the folder format and after restore, as `cp --sparse=auto`,
 * `tar --sparse` and `rsync -S` do. A dense file with real zero runs gets holes too: it reads the
 * same, byte for byte, and the hash is always over the logical content.
 */

import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** Zero runs shorter than this, or not aligned to it, are written: the file system's block size. */
export const HOLE_BLOCK = 4096;

const ZEROS = Buffer.alloc(HOLE_BLOCK);

/** True when `chunk[start, end)` is all zeros. The first and last bytes decide most dense blocks without a memcmp. */
function isZero(chunk: Buffer, start: number, end: number): boolean {
  if (chunk[start] !== 0 || chunk[end - 1] !== 0) return false;
  return chunk.compare(ZEROS, 0, end - start, start, end) === 0;
}

/**
 * The runs of `chunk` (which lies at `position` in the file) that hold data, as [start, end)
 * offsets into the chunk, in order; all-zero blocks (aligned to HOLE_BLOCK in the file; a partial
 * block at either end of the chunk counts as a block) are left out. Adjacent data blocks form one run.
 */
export function dataRuns(chunk: Buffer, position: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let runStart = -1;
  let start = 0;
  while (start < chunk.length) {
    const end = Math.min(chunk.length, start + HOLE_BLOCK - ((position + start) % HOLE_BLOCK));
    if (isZero(chunk, start, end)) {
      if (runStart >= 0) runs.push([runStart, start]);
      runStart = -1;
    } else if (runStart < 0) runStart = start;
    start = end;
  }
  if (runStart >= 0) runs.push([runStart, chunk.length]);
  return runs;
}

function tookNothing(): Error {
  return Object.assign(new Error('the destination took no bytes'), { code: 'EIO' });
}

/**
 * Writes the data runs of `chunk` (at `position` in the file `fd`) with positional writes, skipping
 * its zero blocks. Returns the offset just past the last byte written, or `position` when it wrote
 * nothing: the caller sets the file's length (ftruncate) when the file ends in a hole.
 */
export function writeSparseSync(fd: number, chunk: Buffer, position: number): number {
  let dataEnd = position;
  for (const [start, end] of dataRuns(chunk, position)) {
    for (let done = start; done < end; ) {
      const written = fs.writeSync(fd, chunk, done, end - done, position + done);
      if (written <= 0) throw tookNothing();
      done += written;
    }
    dataEnd = position + end;
  }
  return dataEnd;
}

/** writeSparseSync through a FileHandle (restore from tar.gz, on the event loop). */
export async function writeSparse(handle: FileHandle, chunk: Buffer, position: number): Promise<number> {
  let dataEnd = position;
  for (const [start, end] of dataRuns(chunk, position)) {
    for (let done = start; done < end; ) {
      const { bytesWritten } = await handle.write(chunk, done, end - done, position + done);
      if (bytesWritten <= 0) throw tookNothing();
      done += bytesWritten;
    }
    dataEnd = position + end;
  }
  return dataEnd;
}
