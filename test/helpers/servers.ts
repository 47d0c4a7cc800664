/**
 * Real servers for the destination tests, each started on a free loopback port (parallel runs do
 * not collide) and stopped by its PID: moto_server (S3) and OpenSSH's sshd with throwaway keys.
 * The starting and stopping live in loopbackServers.js (plain JS: the benchmark starts the same
 * servers); this file adds what only the tests need. Missing programs: a reason to skip locally, a
 * failure in CI (CI=true), where .ci/run installs sshd and the machine image carries moto_server.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { SSHD } from './loopbackServers';

export type { Moto, Sshd } from './loopbackServers';
export { SSHD, freePort, makeKey, startMoto, startSshd } from './loopbackServers';

function onPath(program: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** Undefined when the program is there; the reason to skip otherwise. In CI a missing one fails the run. */
function required(present: boolean, what: string, install: string): string | undefined {
  if (present) return undefined;
  if (process.env.CI === 'true') throw new Error(`${what} is required for the destination tests in CI but is missing: ${install}`);
  return `${what} not installed (${install})`;
}

export const motoUnavailable = (): string | undefined => required(onPath('moto_server'), 'moto_server', 'it comes with the machine image (pip install "moto[server]")');
export const sshdUnavailable = (): string | undefined =>
  required(fs.existsSync(SSHD), 'sshd', 'DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server');
