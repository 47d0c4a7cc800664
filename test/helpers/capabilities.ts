/**
 * What this machine lets a test do, probed once when a test file loads, so a test that cannot run
 * here is registered with test.skip (and says why in its title) instead of returning early and
 * counting as passed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

function firstLine(error: unknown): string {
  return String(error).split('\n')[0];
}

function inTempDir(probe: (dir: string) => string | undefined): string | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-probe-'));
  try {
    return probe(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Why a tmpfs cannot be mounted here (not root, no CAP_SYS_ADMIN in a container), or undefined. */
export function tmpfsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  return inTempDir((dir) => {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    } catch (error) {
      return `mount failed: ${firstLine(error)}`;
    }
    execFileSync('umount', [dir]);
    return undefined;
  });
}

/** Why a character device (/dev/zero's 1,5) cannot be made here, or undefined. */
export function mknodUnavailable(): string | undefined {
  return inTempDir((dir) => {
    try {
      execFileSync('mknod', [path.join(dir, 'zero'), 'c', '1', '5'], { stdio: 'pipe' });
      return undefined;
    } catch (error) {
      return `mknod failed: ${firstLine(error)}`;
    }
  });
}

/** `test`, or `test.skip` with the reason appended to the title: jest then counts it as skipped. */
export function testIf(unavailable: string | undefined): (title: string, fn: () => Promise<void>, timeout?: number) => void {
  return (title, fn, timeout) => (unavailable === undefined ? test : test.skip)(unavailable === undefined ? title : `${title} - SKIPPED: ${unavailable}`, fn, timeout);
}
