import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as posix from 'node:path/posix';
import type { Readable } from 'node:stream';
import type { AuthenticationType, ConnectConfig, SFTPWrapper, Stats } from 'ssh2';
import { Client, utils } from 'ssh2';
import { errnoCode } from '../errors';
import { connectionLost, DestinationError, NETWORK_CODES, notFound, redact, unreachable, UNREACHABLE_CODES } from './faults';
import type { TreeOps, TreeStat } from './fileTree';
import { FileTreeDestination } from './fileTree';
import type { KnownHost } from './knownHosts';
import { fingerprint, hostName, judgeHostKey, keyTypeOf, knownAlgorithms, parseKnownHosts } from './knownHosts';
import { bodyStream, mapStreamErrors } from './streams';
import type { ByteRange } from './types';

export interface SftpSettings {
  host: string;
  port?: number;
  username: string;
  /** The destination folder on the server: absolute, or relative to the login folder. */
  path: string;
  /** A private key's text, or a file holding one; without either: the agent and ~/.ssh/id_* as ssh. */
  privateKey?: string;
  privateKeyPath?: string;
  passphrase?: string;
  /**
   * A login password (the n8n node's SFTP credential may hold one). Offered after a given key; with
   * a password or a key given, nothing else is tried (no agent, no ~/.ssh keys of this machine).
   */
  password?: string;
  /** ssh-agent socket; SSH_AUTH_SOCK when not given. */
  agent?: string;
  /** Where the server's key is looked up; ~/.ssh/known_hosts when neither this nor hostKey is given. */
  knownHostsPath?: string;
  /** The server's key (`ssh-ed25519 AAAA...`) or its fingerprint (`SHA256:...`), instead of known_hosts. */
  hostKey?: string;
  /** The home folder whose .ssh is read for defaults (tests point it elsewhere). */
  home?: string;
  readyTimeoutMs?: number;
  /** A stalled connection is dropped after interval x count without an answer (retryable). */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
}

const STATUS_NO_SUCH_FILE = 2;
const STATUS_PERMISSION_DENIED = 3;
const STATUS_FAILURE = 4;
/** Writes in flight on one file: one round trip each would make a long link slow. */
const WRITES_IN_FLIGHT = 8;

type Auth = Exclude<AuthenticationType, string>;

function readKnownHosts(file: string): KnownHost[] {
  try {
    return parseKnownHosts(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}

/** The server keys accepted: a given key, a fingerprint, or the known_hosts file. */
function hostKeyRule(settings: SftpSettings, home: string): { known: KnownHost[]; fingerprint?: string; source: string } {
  const given = settings.hostKey?.trim();
  if (given !== undefined && given !== '') {
    if (given.startsWith('SHA256:')) return { known: [], fingerprint: given.replace(/=+$/, ''), source: 'the given host key fingerprint' };
    const [type, base64] = given.split(/\s+/);
    return { known: [{ marker: '', hosts: '*', keyType: type, key: Buffer.from(base64 ?? '', 'base64') }], source: 'the given host key' };
  }
  const file = settings.knownHostsPath ?? path.join(home, '.ssh', 'known_hosts');
  return { known: readKnownHosts(file), source: file };
}

function keyProblem(source: string, error: Error): DestinationError {
  const needsPassphrase = /passphrase|decrypt|encrypted/i.test(error.message);
  return new DestinationError(
    'DESTINATION_AUTH_FAILED',
    needsPassphrase ? `The private key ${source} is encrypted and the passphrase is missing or wrong.` : `The private key ${source} could not be read as an SSH private key.`,
    { hint: needsPassphrase ? 'Give the key passphrase, or use ssh-agent.' : 'Give an OpenSSH or PEM private key.' },
  );
}

/** The ways to log in, in ssh's order: the agent, then the given key or the default ~/.ssh keys. */
function authMethods(settings: SftpSettings, home: string): Auth[] {
  const username = settings.username;
  const methods: Auth[] = [];
  const explicit = settings.privateKey ?? (settings.privateKeyPath === undefined ? undefined : readKeyFile(settings.privateKeyPath));
  const password = settings.password === '' ? undefined : settings.password;
  if (explicit !== undefined || password !== undefined) {
    if (explicit !== undefined) {
      const parsed = utils.parseKey(explicit, settings.passphrase);
      if (parsed instanceof Error) throw keyProblem(settings.privateKeyPath ?? '(given as text)', parsed);
      methods.push({ type: 'publickey', username, key: explicit, passphrase: settings.passphrase } as Auth);
    }
    if (password !== undefined) methods.push({ type: 'password', username, password } as Auth);
    return methods;
  }
  const agent = settings.agent ?? process.env.SSH_AUTH_SOCK;
  if (agent !== undefined && agent !== '') methods.push({ type: 'agent', username, agent } as Auth);
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const file = path.join(home, '.ssh', name);
    if (!existsSync(file)) continue;
    const text = readFileSync(file);
    // An encrypted default key without a passphrase is skipped, as a non-interactive ssh does.
    if (utils.parseKey(text, settings.passphrase) instanceof Error) continue;
    methods.push({ type: 'publickey', username, key: text, passphrase: settings.passphrase } as Auth);
  }
  if (methods.length === 0) {
    throw new DestinationError('DESTINATION_AUTH_FAILED', `No SSH key to log in to ${settings.host} with: no ssh-agent and no usable ~/.ssh/id_ed25519, id_ecdsa or id_rsa.`, {
      hint: 'Give a private key (and its passphrase), or start ssh-agent with the key loaded.',
    });
  }
  return methods;
}

/** What authMethods offers, in words (for the refusal message). */
function offeredLogin(settings: SftpSettings): string {
  const hasKey = (settings.privateKey ?? settings.privateKeyPath) !== undefined;
  if (settings.password === undefined || settings.password === '') return 'the SSH key(s)';
  return hasKey ? 'the SSH key and the password' : 'the password';
}

function readKeyFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new DestinationError('DESTINATION_AUTH_FAILED', `Cannot read the private key file ${file} (${errnoCode(error) ?? 'error'}).`, { hint: 'Check the path and its permissions.' });
  }
}

const toStat = (s: Stats): TreeStat => ({ size: s.size, mtimeMs: s.mtime * 1000, isDir: s.isDirectory() });

/** A connection to one server, opened on first use and again after it dropped. */
class SftpConnection {
  private session: Promise<{ client: Client; sftp: SFTPWrapper }> | undefined;
  /** Every client not closed yet: a session given up on (a fault) is ended too, never left open (it kept the CLI alive). */
  private readonly clients = new Set<Client>();
  private closed = false;
  readonly where: string;
  private readonly secrets: string[];

  constructor(private readonly settings: SftpSettings) {
    this.where = `sftp://${settings.username}@${settings.host}:${settings.port ?? 22}`;
    this.secrets = [settings.passphrase, settings.privateKey, settings.password].filter((s): s is string => s !== undefined);
  }

  sftp(): Promise<SFTPWrapper> {
    // After close() nothing reconnects (a write failing late must not open a connection nobody ends).
    if (this.closed) return Promise.reject(new DestinationError('IO_ERROR', `${this.where} was closed.`));
    this.session ??= this.connect().catch((error: unknown) => {
      this.session = undefined;
      throw error;
    });
    return this.session.then((s) => s.sftp);
  }

  private connect(): Promise<{ client: Client; sftp: SFTPWrapper }> {
    const settings = this.settings;
    const port = settings.port ?? 22;
    const home = settings.home ?? os.homedir();
    const rule = hostKeyRule(settings, home);
    const name = hostName(settings.host, port);
    const authHandler = authMethods(settings, home);
    let refused: DestinationError | undefined;
    const hostVerifier = (key: Buffer): boolean => {
      const shown = fingerprint(key);
      const verdict = rule.fingerprint !== undefined ? (shown === rule.fingerprint ? 'ok' : 'changed') : judgeHostKey(rule.known, name, key);
      if (verdict === 'ok') return true;
      if (verdict === 'unknown') {
        refused = new DestinationError('HOST_KEY_UNKNOWN', `The host key of ${name} is not known (${keyTypeOf(key)} ${shown}); the connection was refused.`, {
          hint: `Check the fingerprint with the server's administrator, then add it: ssh-keyscan -p ${port} ${settings.host} >> ~/.ssh/known_hosts (or give the host key).`,
        });
      } else {
        refused = new DestinationError('HOST_KEY_CHANGED', `The host key of ${name} does not match ${rule.source} (${verdict === 'revoked' ? 'it is revoked' : `it now shows ${keyTypeOf(key)} ${shown}`}): the connection was refused.`, {
          hint: 'Someone may be intercepting the connection, or the server was reinstalled. Confirm the new key with its administrator before replacing the old one.',
        });
      }
      return false;
    };
    const algorithms = rule.fingerprint === undefined ? knownAlgorithms(rule.known, name) : [];
    const config: ConnectConfig = {
      host: settings.host, port, username: settings.username, authHandler, hostVerifier,
      readyTimeout: settings.readyTimeoutMs ?? 20_000, keepaliveInterval: settings.keepaliveIntervalMs ?? 15_000, keepaliveCountMax: settings.keepaliveCountMax ?? 3,
      ...(algorithms.length > 0 ? { algorithms: { serverHostKey: algorithms as never } } : {}),
    };
    return new Promise((resolve, reject) => {
      const client = new Client();
      this.clients.add(client);
      client.once('close', () => this.clients.delete(client));
      let settled = false;
      client.on('error', (error: Error & { level?: string }) => {
        if (!settled) {
          settled = true;
          reject(refused ?? this.fault(error, 'connect to'));
        }
        this.session = undefined;
      });
      client.on('close', () => {
        this.session = undefined;
        if (!settled) {
          settled = true;
          reject(refused ?? connectionLost(this.where, 'connection closed'));
        }
      });
      client.on('ready', () => {
        client.sftp((error, sftp) => {
          settled = true;
          if (error !== undefined && error !== null) {
            client.end();
            reject(this.fault(error, 'start SFTP on'));
          } else {
            // Pending requests fail on their own when the channel goes; the event needs a listener.
            const gone = (): void => {
              dead.add(sftp);
              this.session = undefined;
            };
            sftp.on('error', gone).on('close', gone);
            client.on('close', gone).on('error', gone);
            resolve({ client, sftp });
          }
        });
      });
      client.connect(config);
      // Each SFTP request is a small packet waiting for its answer: Nagle's algorithm made each wait 40 ms.
      client.setNoDelay(true);
    });
  }

  /** A connection or SFTP error as a destination fault; the server's words only with secrets redacted. */
  fault(error: unknown, action: string, file?: string): DestinationError {
    if (error instanceof DestinationError) return error;
    const e = error as Error & { level?: string; code?: unknown };
    const what = file === undefined ? this.where : `${file} on ${this.where}`;
    const errno = errnoCode(error);
    if (e.level === 'client-authentication') {
      const offered = offeredLogin(this.settings);
      return new DestinationError('DESTINATION_AUTH_FAILED', `${this.where} refused the login of ${this.settings.username} with ${offered} offered.`, {
        hint: "Check the user name, the password, and that the key's public half is in the server's authorized_keys (a server may also refuse password logins: PasswordAuthentication no).",
      });
    }
    if (e.level === 'client-timeout') return unreachable(this.where, 'timed out');
    if (e.level === 'client-dns' || (errno !== undefined && UNREACHABLE_CODES.has(errno))) return unreachable(this.where, errno ?? 'host name not found');
    if (errno !== undefined && NETWORK_CODES.has(errno)) return connectionLost(this.where, errno);
    if (e.code === STATUS_NO_SUCH_FILE) return notFound(what);
    if (e.code === STATUS_PERMISSION_DENIED) {
      return new DestinationError('DESTINATION_AUTH_FAILED', `Permission denied: cannot ${action} ${what}.`, { hint: 'Check the owner and permissions of the folder on the server.' });
    }
    if (typeof e.code === 'number') {
      return new DestinationError('IO_ERROR', `The server could not ${action} ${what}: ${redact(e.message, this.secrets)}.`, { detail: `SFTP status ${e.code}` });
    }
    // No SFTP status: the channel or the connection went away (keepalive timeout, a reset). The
    // next request opens a new one; this one is ended in case it is only half gone.
    this.dropSession();
    return connectionLost(this.where, redact(e.message, this.secrets));
  }

  /** A failed write: SFTP v3 has no "disk full" status, so a generic failure is checked against the free space. */
  async writeFault(error: unknown, file: string): Promise<DestinationError> {
    const fault = this.fault(error, 'write', file);
    if ((error as { code?: unknown }).code !== STATUS_FAILURE) return fault;
    const free = await this.freeBytes(posix.dirname(file)).catch(() => undefined);
    if (free !== undefined && free < 1024 * 1024) {
      return new DestinationError('NO_SPACE', `The disk of ${this.where} is full: cannot write ${file}.`, { hint: 'Free space on the server, or lower the retention counts, then run again.' });
    }
    return fault;
  }

  private async freeBytes(dir: string): Promise<number> {
    const sftp = await this.sftp();
    const stats = await new Promise<{ bavail: number; frsize: number }>((resolve, reject) => sftp.ext_openssh_statvfs(dir, (error, s) => (error ? reject(error) : resolve(s as { bavail: number; frsize: number }))));
    return stats.bavail * stats.frsize;
  }

  private dropSession(): void {
    const session = this.session;
    this.session = undefined;
    void session?.then(({ client }) => client.end(), () => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    const session = this.session;
    this.session = undefined;
    await session?.catch(() => undefined);
    for (const client of this.clients) client.end();
  }
}

/** An error of the body being written (the caller's), kept apart from the server's. */
class BodyError extends Error {
  constructor(readonly cause: unknown) {
    super('the body of the write failed');
  }
}

/** SFTP sessions whose connection is gone: a request on one would never be answered, not even with an error. */
const dead = new WeakSet<SFTPWrapper>();

function call<T>(run: (done: (error: Error | null | undefined, value?: T) => void) => void, sftp?: SFTPWrapper): Promise<T> {
  if (sftp !== undefined && dead.has(sftp)) return Promise.reject(new Error('connection closed'));
  return new Promise((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value as T))));
}

function sftpOps(conn: SftpConnection): TreeOps {
  const madeDirs = new Set<string>();
  const guarded = async <T>(action: string, file: string, run: (sftp: SFTPWrapper) => Promise<T>): Promise<T> => {
    try {
      return await run(await conn.sftp());
    } catch (error) {
      throw conn.fault(error, action, file);
    }
  };
  const statOf = (sftp: SFTPWrapper, file: string): Promise<TreeStat | undefined> =>
    call<Stats>((done) => sftp.stat(file, done), sftp).then(toStat, (error: { code?: unknown }) => {
      if (error.code === STATUS_NO_SUCH_FILE) return undefined;
      throw error;
    });
  return {
    stat: (file) => guarded('stat', file, (sftp) => statOf(sftp, file)),
    mkdirp: (dir) =>
      guarded('create folder', dir, async (sftp) => {
        const missing: string[] = [];
        for (let d = dir; !madeDirs.has(d) && d !== '/' && d !== '.' && d !== ''; d = posix.dirname(d)) {
          const s = await statOf(sftp, d);
          if (s?.isDir === true) break;
          missing.unshift(d);
        }
        for (const d of missing) {
          await call<void>((done) => sftp.mkdir(d, done), sftp).catch(async (error: unknown) => {
            if ((await statOf(sftp, d))?.isDir !== true) throw error; // made by someone else meanwhile is fine
          });
        }
        madeDirs.add(dir);
      }),
    writeNew: async (file, body, noSync) => {
      const sftp = await conn.sftp().catch((error: unknown) => Promise.reject(conn.fault(error, 'write', file)));
      let handle: Buffer;
      try {
        handle = await call<Buffer>((done) => sftp.open(file, 'wx', { mode: 0o644 }, done), sftp);
      } catch (error) {
        throw await conn.writeFault(error, file);
      }
      let size = 0;
      try {
        const inFlight = new Set<Promise<void>>();
        let failure: unknown;
        const chunks = bodyStream(body)[Symbol.asyncIterator]();
        for (;;) {
          let next: IteratorResult<unknown>;
          try {
            next = await chunks.next();
          } catch (error) {
            // The body failed (the writer gave up): its error, not a connection fault.
            throw new BodyError(error);
          }
          if (next.done === true) break;
          const data = next.value;
          const chunk = data as Buffer;
          const at = size;
          size += chunk.length;
          const sent = call<void>((done) => sftp.write(handle, chunk, 0, chunk.length, at, done), sftp).catch((error: unknown) => {
            failure ??= error;
          });
          const tracked = sent.finally(() => inFlight.delete(tracked));
          inFlight.add(tracked);
          if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
          if (failure !== undefined) {
            await chunks.return?.();
            break;
          }
        }
        await Promise.all(inFlight);
        if (failure !== undefined) throw failure;
        // fsync@openssh.com where the server has it: the bytes are on its disk before the rename.
        if (!noSync) await call<void>((done) => sftp.ext_openssh_fsync(handle, done), sftp).catch(() => undefined);
      } catch (error) {
        await call<void>((done) => sftp.close(handle, done), sftp).catch(() => undefined);
        if (error instanceof BodyError) throw error.cause;
        throw await conn.writeFault(error, file);
      }
      await call<void>((done) => sftp.close(handle, done), sftp).catch(async (error: unknown) => Promise.reject(await conn.writeFault(error, file)));
      return size;
    },
    // posix-rename@openssh.com replaces atomically; plain SFTP rename refuses an existing target.
    renameOver: (from, to) =>
      guarded('rename into', to, (sftp) =>
        call<void>((done) => sftp.ext_openssh_rename(from, to, done), sftp).then(
          () => true,
          async (error: { code?: unknown }) => {
            // A missing target folder gives the same status: only with the folder there was `from` gone
            // (checking `from` itself would race with whoever moved it and put a new one back).
            if (error.code === STATUS_NO_SUCH_FILE && (await statOf(sftp, posix.dirname(to)))?.isDir === true) return false;
            throw error;
          },
        ),
      ),
    // Plain SFTP rename never replaces (OpenSSH does it with link(2), so exactly one creator wins).
    renameNoReplace: (from, to) =>
      guarded('create', to, (sftp) =>
        call<void>((done) => sftp.rename(from, to, done), sftp).then(
          () => true,
          async (error: unknown) => {
            if ((await statOf(sftp, to)) !== undefined) return false;
            throw error;
          },
        ),
      ),
    syncDir: () => Promise.resolve(),
    // One handle for the stat and the bytes: a missing file fails here, not mid-stream, and the
    // version judged from its fstat is the version read (a rename over the name leaves it alone).
    open: (file) =>
      guarded('read', file, async (sftp) => {
        const handle = await call<Buffer>((done) => sftp.open(file, 'r', done), sftp);
        const close = (): Promise<void> => call<void>((done) => sftp.close(handle, done), sftp).catch(() => undefined);
        let stats: Stats;
        try {
          stats = await call<Stats>((done) => sftp.fstat(handle, done), sftp);
        } catch (error) {
          await close();
          throw error;
        }
        return {
          stat: toStat(stats),
          stream: (range?: ByteRange): Readable => {
            const start = range?.offset ?? 0;
            if (range?.length === 0) {
              void close();
              return bodyStream(Buffer.alloc(0));
            }
            const end = range?.length === undefined ? undefined : start + range.length - 1;
            const stream = sftp.createReadStream(file, { handle, start, autoClose: true, ...(end === undefined ? {} : { end }) }) as unknown as Readable;
            // Its handle is closed after the last byte; a connection closed meanwhile fails that close
            // on a stream nobody reads any more: that error must not go unhandled.
            stream.on('error', () => undefined);
            return mapStreamErrors(stream, (error) => conn.fault(error, 'read', file));
          },
          close,
        };
      }),
    unlink: (file) =>
      guarded('delete', file, (sftp) =>
        call<void>((done) => sftp.unlink(file, done), sftp).then(
          () => true,
          (error: { code?: unknown }) => {
            if (error.code === STATUS_NO_SUCH_FILE) return false;
            throw error;
          },
        ),
      ),
    rmdir: (dir) =>
      guarded('remove folder', dir, (sftp) =>
        call<void>((done) => sftp.rmdir(dir, done), sftp).catch((error: { code?: unknown }) => {
          if (error.code !== STATUS_NO_SUCH_FILE) throw error;
        }),
      ).finally(() => madeDirs.clear()),
    readdir: (dir) => ({
      async *[Symbol.asyncIterator]() {
        const sftp = await conn.sftp().catch((error: unknown) => Promise.reject(conn.fault(error, 'list', dir)));
        let handle: Buffer;
        try {
          handle = await call<Buffer>((done) => sftp.opendir(dir, done), sftp);
        } catch (error) {
          if ((error as { code?: unknown }).code === STATUS_NO_SUCH_FILE) return;
          throw conn.fault(error, 'list', dir);
        }
        try {
          for (;;) {
            // One batch of names per request (flat memory); the end of the folder is an EOF status.
            const batch = await new Promise<{ filename: string; attrs: Stats }[] | false>((resolve, reject) =>
              sftp.readdir(handle, (error, list) => (error ? ((error as { code?: unknown }).code === 1 ? resolve(false) : reject(error)) : resolve(list))),
            ).catch((error: unknown) => Promise.reject(conn.fault(error, 'list', dir)));
            if (batch === false) return;
            for (const entry of batch) {
              if (entry.filename === '.' || entry.filename === '..') continue;
              if (entry.attrs.isFile() || entry.attrs.isDirectory()) yield { name: entry.filename, stat: toStat(entry.attrs) };
            }
          }
        } finally {
          await call<void>((done) => sftp.close(handle, done), sftp).catch(() => undefined);
        }
      },
    }),
    close: () => conn.close(),
  };
}

/** An SFTP server's folder as a destination; the folder must exist (DESTINATION_NOT_FOUND). */
export async function openSftp(settings: SftpSettings): Promise<FileTreeDestination> {
  const conn = new SftpConnection(settings);
  const ops = sftpOps(conn);
  const root = settings.path === '' ? '.' : settings.path;
  try {
    const stat = await ops.stat(root);
    if (stat === undefined || !stat.isDir) {
      throw new DestinationError('DESTINATION_NOT_FOUND', `The folder ${root} does not exist on ${conn.where}.`, { hint: 'Create it on the server first, or check the path.' });
    }
  } catch (error) {
    await conn.close();
    throw error;
  }
  const shown = `${conn.where}${root.startsWith('/') ? root : `/~/${root}`}`;
  return new FileTreeDestination(ops, root, shown);
}
