/**
 * The Backup node in n8n's queue mode: Redis, one main, two workers, one shared user folder and
 * destination (test/helpers/queue.ts). Executions come in through the main's production webhooks
 * and run on the workers. Needs the n8n of `npm start` and `redis-server` (Debian's redis-server;
 * `.ci/run` installs it); without them the suite is skipped locally with a message, and fails in CI
 * or with REQUIRE_N8N=1. The S3 case also needs moto_server (test/helpers/servers.ts): skipped
 * locally without it, a failure in CI.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { DestinationOptions } from '../../nodes/Backup/engine';
import { listDestination, restoreBackup } from '../../nodes/Backup/engine';
import type { N8nCredential } from '../helpers/n8n';
import { n8nInstallState } from '../helpers/n8n';
import type { QueueCluster, QueueTiming } from '../helpers/queue';
import { startQueueCluster, webhookBackupWorkflow } from '../helpers/queue';
import type { Moto } from '../helpers/servers';
import { motoUnavailable, startMoto } from '../helpers/servers';
import { expectSameTree, snapshotTree } from '../helpers/tree';

const required = process.env.CI === 'true' || process.env.REQUIRE_N8N === '1';
const hasRedis = spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;
const install = n8nInstallState();
const missing = [install.state === 'works' ? null : `a working n8n (${install.state})`, hasRedis ? null : 'redis-server (apt-get install redis-server)'].filter((m) => m !== null);
const suite = missing.length === 0 ? describe : describe.skip;
if (missing.length > 0) {
  if (required) {
    test('queue mode needs n8n and Redis', () => {
      throw new Error(`the queue-mode tests need ${missing.join(' and ')}`);
    });
  } else console.warn(`SKIPPED n8n queue-mode tests: missing ${missing.join(' and ')}`);
}

jest.setTimeout(900_000);

// Short claims on jobs, so a backup of a few seconds outlives several stall checks: a worker whose
// event loop stalled longer than the lock duration would lose the job, and the queue would hand
// it out again (a second "Worker started execution").
const TIMING: QueueTiming = { lockDurationMs: 3000, lockRenewMs: 1000, stalledIntervalMs: 3000 };

type Item = Record<string, unknown>;

// Checked here, not in beforeAll: a missing moto_server skips the S3 case locally (throws in CI).
const motoMissing = missing.length === 0 ? motoUnavailable() : 'n8n or Redis missing';
const s3Test = motoMissing === undefined ? test : test.skip;
const BUCKET = 'queue-backups';
const S3_PREFIX = 'queue';
const S3_CREDENTIAL = { id: 'bkQueueS3Cred001', name: 'moto' };

function itemsOf(answer: unknown): Item[] {
  if (!Array.isArray(answer)) throw new Error(`expected the Backup node's items, got ${JSON.stringify(answer).slice(0, 500)}`);
  return answer as Item[];
}

/** sha256 of every file below root (the big tree is too big for snapshotTree's in-memory copies). */
function fileHashes(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of fs.readdirSync(root).sort()) out.set(name, createHash('sha256').update(fs.readFileSync(path.join(root, name))).digest('hex'));
  return out;
}

/** Bytes deflate is slowest on at level 9: a four-letter alphabet in random order (many short matches). */
function slowToCompress(size: number): Buffer {
  const letters = Buffer.from('ACGT');
  const bytes = randomBytes(size);
  for (let i = 0; i < size; i++) bytes[i] = letters[bytes[i] & 3];
  return bytes;
}

function setLeftovers(setDir: string): string[] {
  return fs.existsSync(setDir) ? fs.readdirSync(setDir).filter((name) => name.startsWith('.partial-') || name.startsWith('.lock')) : [];
}

function completeBackups(setDir: string): string[] {
  return fs.existsSync(setDir) ? fs.readdirSync(setDir).filter((name) => !name.startsWith('.') && fs.existsSync(path.join(setDir, name, 'backup.json'))).sort() : [];
}

async function waitFor(what: string, timeoutMs: number, probe: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs / 1000} s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

suite('the Backup node in n8n queue mode (Redis, a main, two workers)', () => {
  let root: string;
  let allowed: string;
  let small: string;
  let big: string;
  let dest: string;
  let cluster: QueueCluster;
  let moto: Moto | undefined;
  let shared: string;
  let s3: S3Client;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-queue-'));
    allowed = path.join(root, 'files');
    small = path.join(allowed, 'small');
    big = path.join(allowed, 'big');
    dest = path.join(allowed, 'backups');
    fs.mkdirSync(path.join(small, 'docs', 'empty'), { recursive: true });
    fs.writeFileSync(path.join(small, 'docs', 'report.txt'), 'quarterly numbers\n');
    fs.writeFileSync(path.join(small, 'notes.md'), '# notes\n');
    fs.symlinkSync('docs/report.txt', path.join(small, 'latest'));
    // Four letters in random order at gzip level 9: deflate's longest match search on every byte,
    // about 3.6 MiB/s per core here (random bytes go 40 MiB/s: 300 MiB of them once took only 5.9 s
    // in CI). 100 MiB is about 14 s on two cores, so the run outlives several stall checks with room.
    fs.mkdirSync(big);
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(big, `part-${String(i).padStart(2, '0')}.txt`), slowToCompress(10 * 1024 * 1024));
    const slow = { resource: 'backup', operation: 'full', sourcePaths: big, destinationPath: dest, options: { setName: 'big', format: 'tar.gz', compressionLevel: 9 } };
    const workflows = [
      webhookBackupWorkflow('wfQueueSmall0001', 'q-small', { resource: 'backup', operation: 'full', sourcePaths: small, destinationPath: dest, options: { setName: 'small' } }),
      webhookBackupWorkflow('wfQueueSlow00001', 'q-slow', slow),
      webhookBackupWorkflow('wfQueueSlowLock1', 'q-slow-lock', { ...slow, options: { ...slow.options, lockTimeout: 1 } }),
    ];
    const credentials: N8nCredential[] = [];
    // One bucket for every worker: the S3 set, its lock and its readers live only there.
    shared = path.join(allowed, 'shared');
    if (motoMissing === undefined) {
      moto = await startMoto();
      s3 = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      // 4 x 8 MiB that deflate is slow on, at gzip level 9: about 5 s on two cores, so a second
      // run meets the lock (random bytes, 40 MiB/s, left it under a second).
      fs.mkdirSync(path.join(shared, 'db'), { recursive: true });
      for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(shared, 'db', `chunk-${i}.txt`), slowToCompress(8 * 1024 * 1024));
      fs.writeFileSync(path.join(shared, 'readme.txt'), 'shared through the bucket\n');
      credentials.push({
        ...S3_CREDENTIAL, type: 's3',
        data: { endpoint: moto.endpoint, region: 'us-east-1', accessKeyId: 'AKIAQUEUETEST0001', secretAccessKey: 'queue-secret-not-real', forcePathStyle: true, ignoreSSLIssues: false },
      });
      const where = { destinationType: 's3', s3Bucket: BUCKET, s3Prefix: S3_PREFIX };
      const backup = { resource: 'backup', operation: 'full', sourcePaths: shared, ...where, options: { setName: 'shared', format: 'tar.gz', compressionLevel: 9 } };
      const s3Credentials = { s3: S3_CREDENTIAL };
      workflows.push(
        webhookBackupWorkflow('wfQueueS3Backup1', 'q-s3', backup, s3Credentials),
        webhookBackupWorkflow('wfQueueS3Lock001', 'q-s3-lock', { ...backup, options: { ...backup.options, lockTimeout: 1 } }, s3Credentials),
        webhookBackupWorkflow('wfQueueS3List001', 'q-s3-list', { resource: 'backupSet', operation: 'list', ...where, setName: 'shared' }, s3Credentials),
        webhookBackupWorkflow(
          'wfQueueS3Restor1', 'q-s3-restore',
          { resource: 'backupSet', operation: 'restore', ...where, setName: 'shared', backupId: 'latest', targetPath: path.join(allowed, 'restored-s3') },
          s3Credentials,
        ),
      );
    }
    cluster = await startQueueCluster({
      root,
      allowed: [allowed],
      timing: TIMING,
      webhookPaths: workflows.map((w) => String(w.name)), // webhookBackupWorkflow names a workflow by its path
      workflows,
      credentials,
    });
  });

  afterAll(async () => {
    if (cluster !== undefined) await cluster.stop();
    s3?.destroy();
    await moto?.stop();
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
  });

  test('two backups of one set fired at once run on the workers, one after the other, and both restore exactly', async () => {
    const answers = await Promise.all([cluster.callWebhook('q-small'), cluster.callWebhook('q-small')]);
    const items = answers.map((answer) => itemsOf(answer)[0]);
    for (const item of items) expect(item).toMatchObject({ set: 'small', type: 'full', skipped: false, errorCount: 0 });
    const ids = items.map((item) => String(item.backupId));
    expect(new Set(ids).size).toBe(2);

    const executions = await cluster.executions();
    expect(executions).toHaveLength(2);
    for (const execution of executions) {
      expect(execution.status).toBe('success');
      expect(cluster.startsOf(execution.id)).toHaveLength(1); // run by a worker, once
    }
    const setDir = path.join(dest, 'small');
    expect(completeBackups(setDir)).toEqual([...ids].sort());
    expect(setLeftovers(setDir)).toEqual([]);
    const want = await snapshotTree(small);
    for (const backupId of ids) {
      const target = path.join(root, `restored-${backupId}`);
      const report = await restoreBackup({ destination: dest, setName: 'small', backupId, target });
      expect(report.errorCount).toBe(0);
      expectSameTree(await snapshotTree(target), want);
    }
  });

  test('a backup that outlives the stall interval is not handed out again; a second run with a 1 s lock timeout fails with LOCKED on the error output', async () => {
    const before = new Set((await cluster.executions()).map((e) => e.id));
    const slow = cluster.callWebhook('q-slow');
    slow.catch(() => undefined); // awaited below; a failure before that must not be unhandled
    const setDir = path.join(dest, 'big');
    await waitFor('the slow backup to hold the lock', 120_000, () => setLeftovers(setDir).some((name) => name === '.lock'));
    const locked = itemsOf(await cluster.callWebhook('q-slow-lock'));
    expect(locked).toHaveLength(1);
    // Only the error output ("Backup failed") ran: its item carries the error and its code.
    expect(locked[0]).toMatchObject({ details: { code: 'LOCKED' } });
    expect(String(locked[0].error)).toMatch(/locked by backup of .*; waited 1 s/);

    const [done] = itemsOf(await slow);
    expect(done).toMatchObject({ set: 'big', type: 'full', errorCount: 0 });
    // The test means something only if the backup outlived several stall checks.
    expect(Number(done.durationMs)).toBeGreaterThan(2 * TIMING.stalledIntervalMs);
    const fresh = (await cluster.executions()).filter((e) => !before.has(e.id));
    expect(fresh.map((e) => e.status).sort()).toEqual(['success', 'success']); // the LOCKED one ended on its error output
    for (const execution of fresh) expect(cluster.startsOf(execution.id)).toHaveLength(1);
    expect(cluster.workerLogs().join('\n')).not.toMatch(/stalled/i);

    expect(completeBackups(setDir)).toEqual([String(done.backupId)]);
    expect(setLeftovers(setDir)).toEqual([]);
    const target = path.join(root, 'restored-big');
    const report = await restoreBackup({ destination: dest, setName: 'big', backupId: String(done.backupId), target });
    expect(report.errorCount).toBe(0);
    expect(fileHashes(target)).toEqual(fileHashes(big));
    fs.rmSync(target, { recursive: true, force: true });
  });

  test('stopping the execution in the main stops the backup on its worker: no partial backup, no lock, the set as it was', async () => {
    const setDir = path.join(dest, 'big');
    const kept = completeBackups(setDir);
    const before = new Set((await cluster.executions()).map((e) => e.id));
    const answer = cluster.callWebhook('q-slow').catch((e: unknown) => e);
    await waitFor('the backup to write its partial folder', 120_000, () => setLeftovers(setDir).some((name) => name.startsWith('.partial-')));
    const [running] = (await cluster.executions('running')).filter((e) => !before.has(e.id));
    expect(running).toBeDefined();
    await cluster.stopExecution(running.id);
    await answer; // the webhook answers (an error), it does not hang

    // The worker gets the stop through Redis and the node's cancel signal ends the run between files.
    await waitFor('the worker to remove the partial backup and release the lock', 120_000, () => setLeftovers(setDir).length === 0);
    expect(completeBackups(setDir)).toEqual(kept);
    const stopped = (await cluster.executions()).find((e) => e.id === running.id);
    expect(stopped?.status).toBe('canceled');
    expect(cluster.workerLogs().join('\n')).toMatch(new RegExp(`Worker errored while running execution ${running.id} `));
    // The set still works: the next run makes a backup.
    const [next] = itemsOf(await cluster.callWebhook('q-slow'));
    expect(next).toMatchObject({ set: 'big', errorCount: 0 });
    expect(completeBackups(setDir)).toEqual([...kept, String(next.backupId)].sort());
  });

  /** The set's lock object as the bucket holds it (a lease note, or `{ released: true }` between runs). */
  async function lockNote(): Promise<Item | undefined> {
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${S3_PREFIX}/shared/lock.json` }));
      return JSON.parse(await (got.Body as { transformToString: () => Promise<string> }).transformToString()) as Item;
    } catch {
      return undefined;
    }
  }

  s3Test(
    `S3 through n8n's s3 credential: a backup on one worker, a second run of the set meanwhile fails LOCKED, a List on the other worker and a Restore in another execution read it from the bucket${motoMissing === undefined ? '' : ` - SKIPPED: ${motoMissing}`}`,
    async () => {
      const before = new Set((await cluster.executions()).map((e) => e.id));
      const backup = cluster.callWebhook('q-s3');
      backup.catch(() => undefined); // awaited below
      // The lock lives in the bucket, not on any worker's disk: the second run sees it from there.
      await waitFor('the S3 backup to hold the set lock', 120_000, async () => {
        const note = await lockNote();
        return note !== undefined && note.released === undefined && note.token !== undefined;
      });
      const locked = itemsOf(await cluster.callWebhook('q-s3-lock'));
      expect(locked).toHaveLength(1);
      expect(locked[0]).toMatchObject({ details: { code: 'LOCKED' } });
      expect(String(locked[0].error)).toMatch(/locked by backup of .*; waited 1 s/);
      const [made] = itemsOf(await backup);
      expect(made).toMatchObject({ destination: `s3://${BUCKET}/${S3_PREFIX}`, set: 'shared', type: 'full', errorCount: 0 });
      const backupId = String(made.backupId);

      const ran = async (workflowId: string): Promise<number[]> => {
        const execution = (await cluster.executions()).find((e) => e.workflowId === workflowId && !before.has(e.id));
        if (execution === undefined) throw new Error(`no execution of ${workflowId}`);
        before.add(execution.id);
        expect(execution.status).toBe('success');
        return cluster.startsOf(execution.id);
      };
      const [backupWorker] = await ran('wfQueueS3Backup1');
      expect(backupWorker).toBeDefined();
      await ran('wfQueueS3Lock001'); // the LOCKED run ended on its error output: a successful execution

      // List until one runs on the other worker (the queue hands jobs to whichever worker asks,
      // usually in turn); every List, wherever it runs, sees the one backup.
      const listWorkers: number[] = [];
      while (!listWorkers.some((w) => w !== backupWorker) && listWorkers.length < 8) {
        const listed = itemsOf(await cluster.callWebhook('q-s3-list'));
        expect(listed.map((i) => [i.backupId, i.storage])).toEqual([[backupId, 'tar.gz']]);
        listWorkers.push(...(await ran('wfQueueS3List001')));
      }
      expect(listWorkers.some((w) => w !== backupWorker)).toBe(true);

      const [restored] = itemsOf(await cluster.callWebhook('q-s3-restore'));
      expect(restored).toMatchObject({ backupId, errorCount: 0 });
      await ran('wfQueueS3Restor1');
      const target = path.join(allowed, 'restored-s3');
      expect(fileHashes(path.join(target, 'db'))).toEqual(fileHashes(path.join(shared, 'db')));
      expect(fs.readFileSync(path.join(target, 'readme.txt'), 'utf8')).toBe('shared through the bucket\n');

      // The set in the bucket: one complete backup, no leftovers of the LOCKED run, no open
      // multipart upload, no reader marker, the lock released; another machine (this process,
      // through the engine) lists the same.
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${S3_PREFIX}/shared/`, ContinuationToken: token }));
        keys.push(...(page.Contents ?? []).map((o) => String(o.Key).slice(`${S3_PREFIX}/shared/`.length)));
        token = page.NextContinuationToken;
      } while (token !== undefined);
      expect([...new Set(keys.map((k) => k.split('/')[0]))].sort()).toEqual([backupId, 'last-run.json', 'lock.json'].sort());
      expect(keys).toContain(`${backupId}/backup.json`);
      expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).toEqual([]);
      expect(await lockNote()).toMatchObject({ released: true });
      const options: DestinationOptions = {
        s3: { endpoint: moto?.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } },
      };
      expect((await listDestination(`s3://${BUCKET}/${S3_PREFIX}`, 'shared', options)).map((b) => b.backupId)).toEqual([backupId]);
    },
  );
});
