/**
 * SFTP login with a password (the n8n node's SFTP credential may hold one instead of a key). The
 * test sshd allows keys only (and a password login needs a system password), so an in-process
 * ssh2 server stands in: it accepts one user's password and answers the one STAT that opening a
 * destination makes. It proves what goes over the wire: the password method, the right password,
 * nothing else offered (no agent, no ~/.ssh key of this machine), and no password in any error.
 */
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import type { Connection } from 'ssh2';
import { Server, utils } from 'ssh2';
import { openSftp } from '../../nodes/Backup/engine/destination/sftp';

const PASSWORD = 'pw-7Hq2-not-a-real-one';
const STATUS_NO_SUCH_FILE = 2;

interface FakeServer {
  port: number;
  hostKey: string;
  /** Every login attempt: method (and for passwords whether it matched). */
  attempts: string[];
  close(): Promise<void>;
}

async function startPasswordServer(folder: string): Promise<FakeServer> {
  const keys = utils.generateKeyPairSync('ed25519');
  const attempts: string[] = [];
  const server = new Server({ hostKeys: [keys.private] }, (client: Connection) => {
    client.on('authentication', (ctx) => {
      if (ctx.method === 'password') {
        const ok = ctx.username === 'backup' && ctx.password === PASSWORD;
        attempts.push(ok ? 'password ok' : 'password wrong');
        if (ok) return ctx.accept();
      } else attempts.push(ctx.method);
      ctx.reject(['password']);
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        accept().on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          sftp.on('STAT', (reqid, p) => {
            if (p !== folder) return sftp.status(reqid, STATUS_NO_SUCH_FILE);
            sftp.attrs(reqid, { mode: 0o40755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0 });
          });
        });
      });
    });
    client.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hostKey: keys.public.split(/\s+/).slice(0, 2).join(' '),
    attempts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('SFTP with a password', () => {
  let server: FakeServer;
  let home: string;
  const folder = '/srv/backups';
  beforeAll(async () => {
    server = await startPasswordServer(folder);
    // A home with a usable ~/.ssh key: it must NOT be offered when a password is given.
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-pwhome-'));
    fs.mkdirSync(path.join(home, '.ssh'));
    fs.writeFileSync(path.join(home, '.ssh', 'id_ed25519'), utils.generateKeyPairSync('ed25519').private);
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(home, { recursive: true, force: true });
  });
  const settings = (password: string) => ({
    host: '127.0.0.1', port: server.port, username: 'backup', path: folder, password, hostKey: server.hostKey, home, agent: '', readyTimeoutMs: 5000,
  });

  test('the right password logs in, and nothing but the password is offered', async () => {
    server.attempts.length = 0;
    const dest = await openSftp(settings(PASSWORD));
    expect(dest.describe()).toBe(`sftp://backup@127.0.0.1:${server.port}${folder}`);
    await dest.close();
    expect(server.attempts.filter((a) => a !== 'none')).toEqual(['password ok']);
  });

  test('a wrong password is DESTINATION_AUTH_FAILED, and the message names the password, not its text', async () => {
    server.attempts.length = 0;
    const wrong = 'wrong-password-3f9a';
    const error = (await openSftp(settings(wrong)).then(() => undefined, (e: unknown) => e)) as Error & { code?: string; hint?: string };
    expect(error).toMatchObject({ code: 'DESTINATION_AUTH_FAILED', message: expect.stringContaining('with the password offered') });
    expect(server.attempts.filter((a) => a !== 'none')).toEqual(['password wrong']);
    const everything = `${error.message}\n${error.hint}\n${JSON.stringify(error)}\n${inspect(error, { depth: 10 })}`;
    for (const secret of [wrong, PASSWORD]) expect(everything).not.toContain(secret);
  });
});
