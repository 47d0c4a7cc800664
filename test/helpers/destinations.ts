/**
 * The three destinations as test subjects on real stores: a temp folder, a moto bucket, an sshd
 * folder. S3 and SFTP go through a FaultProxy, so tests can count the bytes that left and cut them.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DestinationOptions } from '../../nodes/Backup/engine/destination';
import type { Destination } from '../../nodes/Backup/engine/destination/types';
import { openLocal } from '../../nodes/Backup/engine/destination/local';
import type { S3Settings } from '../../nodes/Backup/engine/destination/s3';
import { openS3 } from '../../nodes/Backup/engine/destination/s3';
import type { SftpSettings } from '../../nodes/Backup/engine/destination/sftp';
import { openSftp } from '../../nodes/Backup/engine/destination/sftp';
import { FaultProxy } from './faultProxy';
import type { Moto, Sshd } from './servers';
import { motoUnavailable, sshdUnavailable, startMoto, startSshd } from './servers';

export const PART_SIZE = 5 * 1024 * 1024;
export const CONCURRENCY = 2;

export interface Subject {
  label: 'local' | 's3' | 'sftp';
  unavailable: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Starts a fresh, empty store (a folder, a bucket); later open() calls reach it. */
  fresh(): Promise<void>;
  /** A new client on the current store, without retries. */
  open(overrides?: Record<string, unknown>): Promise<Destination>;
  /** Bytes that reached the store's side so far (proxied upload bytes; local: the temp files' size). */
  reached(): number;
  proxy(): FaultProxy | undefined;
  /** What a user gives the engine for the current store: the --dest text and the destination options. */
  target(): { url: string; options: DestinationOptions };
}

export const TEST_SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';
export const TEST_ACCESS_KEY = 'AKIATESTACCESSKEY01';

export function localSubject(): Subject {
  let base = '';
  let root = '';
  let n = 0;
  let most = 0;
  return {
    label: 'local', unavailable: undefined,
    start: async () => {
      base = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-dest-'));
    },
    stop: async () => fs.rmSync(base, { recursive: true, force: true }),
    fresh: async () => {
      root = path.join(base, `store-${++n}`);
      most = 0;
      fs.mkdirSync(root);
    },
    open: () => openLocal(root),
    // Monotonic: the temp file leaves .incoming when it is renamed into place at the end.
    // Temp files sit in .incoming/<set>/ (and .incoming/ for names outside a folder).
    reached: () => {
      let total = 0;
      const incoming = path.join(root, '.incoming');
      const sets = fs.existsSync(incoming) ? fs.readdirSync(incoming).map((name) => path.join(incoming, name)) : [];
      for (const dir of [incoming, ...sets, root]) {
        if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) continue;
        for (const name of fs.readdirSync(dir)) {
          const stat = fs.statSync(path.join(dir, name), { throwIfNoEntry: false });
          if (stat?.isFile() === true) total += stat.size;
        }
      }
      most = Math.max(most, total);
      return most;
    },
    proxy: () => undefined,
    target: () => ({ url: root, options: {} }),
  };
}

export function s3Subject(): Subject {
  const unavailable = motoUnavailable();
  let moto: Moto | undefined;
  let proxy: FaultProxy | undefined;
  let bucket = '';
  let n = 0;
  const settings = (): S3Settings => ({
    bucket, prefix: 'backups/here', endpoint: `http://127.0.0.1:${proxy?.port}`, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: TEST_ACCESS_KEY, secretAccessKey: TEST_SECRET }, partSize: PART_SIZE, concurrency: CONCURRENCY,
    requestTimeoutMs: 5_000, connectTimeoutMs: 2_000,
  });
  return {
    label: 's3', unavailable,
    start: async () => {
      moto = await startMoto();
      proxy = await FaultProxy.start(moto.port);
    },
    stop: async () => {
      await proxy?.close();
      await moto?.stop();
    },
    fresh: async () => {
      bucket = `bucket-${process.pid}-${++n}`;
      const client = new S3Client({ endpoint: moto?.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      client.destroy();
    },
    open: (overrides = {}) => openS3({ ...settings(), ...overrides }),
    reached: () => proxy?.up ?? 0,
    proxy: () => proxy,
    target: () => {
      const { bucket: b, prefix, ...s3 } = settings();
      return { url: `s3://${b}/${prefix}`, options: { s3 } };
    },
  };
}

export function sftpSubject(): Subject {
  const unavailable = sshdUnavailable();
  let sshd: Sshd | undefined;
  let proxy: FaultProxy | undefined;
  let root = '';
  let n = 0;
  const settings = (): SftpSettings => ({
    host: '127.0.0.1', port: proxy?.port, username: sshd?.user ?? 'root', path: root, privateKeyPath: sshd?.clientKey, hostKey: sshd?.hostKey,
    home: sshd?.dir, readyTimeoutMs: 5_000, keepaliveIntervalMs: 1_000, keepaliveCountMax: 2,
  });
  return {
    label: 'sftp', unavailable,
    start: async () => {
      sshd = await startSshd();
      proxy = await FaultProxy.start(sshd.port);
    },
    stop: async () => {
      await proxy?.close();
      await sshd?.stop();
    },
    fresh: async () => {
      root = path.join(sshd?.dir ?? '', `store-${++n}`);
      fs.mkdirSync(root);
    },
    open: (overrides = {}) => openSftp({ ...settings(), ...overrides }),
    reached: () => proxy?.up ?? 0,
    proxy: () => proxy,
    target: () => {
      const { host, port, username, path: where, ...sftp } = settings();
      return { url: `sftp://${username}@${host}:${port ?? 22}${where}`, options: { sftp } };
    },
  };
}

export const allSubjects = (): Subject[] => [localSubject(), s3Subject(), sftpSubject()];

/**
 * Inside a describe block for one subject: starts its server before the block and stops it after,
 * and gives `maybe` (test, or test.skip when the server is unavailable here) and `title` (the
 * reason appended to a skipped test's name).
 */
export function usingSubject(subject: Subject): { maybe: typeof test; title: (t: string) => string } {
  const available = subject.unavailable === undefined;
  beforeAll(async () => {
    if (available) await subject.start();
  }, 120_000);
  afterAll(async () => {
    if (available) await subject.stop();
  });
  return { maybe: available ? test : test.skip, title: (t) => (available ? t : `${t} - SKIPPED: ${subject.unavailable}`) };
}
