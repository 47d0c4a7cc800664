/**
 * Real servers for the destination tests, each started on a free loopback port (parallel runs do
 * not collide) and stopped by its PID: moto_server (S3) and OpenSSH's sshd with throwaway keys.
 * Missing programs: a reason to skip locally, a failure in CI (CI=true), where .ci/run installs sshd
 * and the machine image carries moto_server.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const SSHD = '/usr/sbin/sshd';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

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

async function waitUntil(ready: () => Promise<boolean>, child: ChildProcess, what: string, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it was ready`);
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} was not ready within ${ms} ms`);
}

const connects = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** Stops a server by its PID and waits for it to exit. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid, 'SIGTERM');
  await exited;
}

export interface Moto {
  endpoint: string;
  port: number;
  pid: number;
  /** Wipes every bucket (moto keeps all in memory). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(() => fetch(`${endpoint}/moto-api/`).then((r) => r.ok, () => false), child, 'moto_server');
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return {
    endpoint, port, pid: child.pid as number,
    reset: async () => {
      await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    },
    stop: () => stopChild(child),
  };
}

export interface Sshd {
  port: number;
  pid: number;
  /** Holds the keys and the config (removed by stop()). */
  dir: string;
  /** `ssh-ed25519 AAAA...`: the server's public key. */
  hostKey: string;
  /** A known_hosts file naming this server (`[127.0.0.1]:port ssh-ed25519 ...`). */
  knownHosts: string;
  clientKey: string;
  user: string;
  stop(): Promise<void>;
}

function keygen(file: string, passphrase = ''): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'test', '-f', file], { stdio: 'pipe' });
}

/** sshd on loopback with a throwaway host key and one authorized client key, as the user running the tests. */
export async function startSshd(): Promise<Sshd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-sshd-'));
  const port = await freePort();
  const user = os.userInfo().username;
  keygen(path.join(dir, 'host_ed25519'));
  keygen(path.join(dir, 'client_ed25519'));
  fs.copyFileSync(path.join(dir, 'client_ed25519.pub'), path.join(dir, 'authorized_keys'));
  fs.chmodSync(path.join(dir, 'authorized_keys'), 0o600);
  const config = [
    'ListenAddress 127.0.0.1', `Port ${port}`, `HostKey ${dir}/host_ed25519`, `PidFile ${dir}/sshd.pid`, `AuthorizedKeysFile ${dir}/authorized_keys`,
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password', `AllowUsers ${user}`, 'UsePAM no', 'StrictModes no',
    'AllowTcpForwarding no', 'X11Forwarding no', 'PermitTTY no', 'Subsystem sftp internal-sftp', 'LogLevel ERROR',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'sshd_config'), `${config}\n`);
  fs.mkdirSync('/run/sshd', { recursive: true });
  const child = spawn(SSHD, ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: 'ignore' });
  try {
    await waitUntil(() => connects(port), child, 'sshd');
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  const hostKey = fs.readFileSync(path.join(dir, 'host_ed25519.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const knownHosts = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey}\n`);
  return {
    port, pid: child.pid as number, dir, hostKey, knownHosts, clientKey: path.join(dir, 'client_ed25519'), user,
    stop: async () => {
      await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Makes a throwaway ed25519 key pair in `dir`; its private key file (encrypted with `passphrase` when given). */
export function makeKey(dir: string, name: string, passphrase = ''): string {
  const file = path.join(dir, name);
  keygen(file, passphrase);
  return file;
}
