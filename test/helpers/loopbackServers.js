'use strict';
/**
 * moto_server (S3) and OpenSSH's sshd with throwaway keys, each on a free loopback port and stopped
 * by its PID. Plain CommonJS (types in loopbackServers.d.ts) so that the tests (through servers.ts)
 * and the benchmark (bench/remote.js, plain node, no TypeScript) start the servers the same way.
 */
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const SSHD = '/usr/sbin/sshd';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitUntil(ready, child, what, ms = 15_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it was ready`);
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} was not ready within ${ms} ms`);
}

const connects = (port) =>
  new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

const running = (child) => child.exitCode === null && child.signalCode === null && child.pid !== undefined;

/** Stops a server by its PID and waits for it to exit. */
async function stopChild(child) {
  if (!running(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid, 'SIGTERM');
  await exited;
}

/** Synchronous last resort (a process 'exit' handler cannot wait): SIGTERM by PID, no waiting. */
function killNow(child) {
  if (!running(child)) return;
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

async function startMoto() {
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
    endpoint, port, pid: child.pid,
    reset: async () => {
      await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    },
    stop: () => stopChild(child),
    killNow: () => killNow(child),
  };
}

function keygen(file, passphrase = '') {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'test', '-f', file], { stdio: 'pipe' });
}

/** Makes a throwaway ed25519 key pair in `dir`; its private key file (encrypted with `passphrase` when given). */
function makeKey(dir, name, passphrase = '') {
  const file = path.join(dir, name);
  keygen(file, passphrase);
  return file;
}

/** sshd on loopback with a throwaway host key and one authorized client key, as the user running it. */
async function startSshd() {
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
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    await waitUntil(() => connects(port), child, 'sshd');
  } catch (error) {
    await stopChild(child);
    removeDir();
    throw error;
  }
  const hostKey = fs.readFileSync(path.join(dir, 'host_ed25519.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const knownHosts = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey}\n`);
  return {
    port, pid: child.pid, dir, hostKey, knownHosts, clientKey: path.join(dir, 'client_ed25519'), user,
    stop: async () => {
      await stopChild(child);
      removeDir();
    },
    killNow: () => {
      killNow(child);
      removeDir();
    },
  };
}

module.exports = { SSHD, freePort, startMoto, startSshd, makeKey };
