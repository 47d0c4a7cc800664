/**
 * The built CLI against remote destinations as a user runs it: `--dest s3://...` with the AWS
 * variables and `--s3-endpoint`, `--dest sftp://...` with `--sftp-identity` and `--sftp-host-key`.
 * Backup, list, restore, verify; SIGKILL at points spread over a tar.gz backup, then the next run
 * recovers (no leftover, no interrupted upload, every listed backup restores); a missing bucket and a
 * changed host key.
 */
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Destination, ListEntry } from '../../nodes/Backup/engine/destination/types';
import type { CliResult, JsonObject, RunOptions } from '../helpers/cli';
import { asBackupItem, compareSnapshots, describeRun, expectExit, makeTempDir, parseJsonArray, removeTempDir, sleep, snapshotTree, startCli, writeFile } from '../helpers/cli';
import type { Subject } from '../helpers/destinations';
import { s3Subject, sftpSubject, TEST_ACCESS_KEY, TEST_SECRET } from '../helpers/destinations';

const SET = 'r';
/** Kill points as fractions of a measured run: before it starts writing up to past its end. */
const KILL_FRACTIONS = [0.05, 0.3, 0.55, 0.8, 1.05];

/** The flags and variables a user would give for the subject's current store. */
function cliTarget(subject: Subject): { dest: string; flags: string[]; env: NodeJS.ProcessEnv } {
  const { url, options } = subject.target();
  if (options.s3 !== undefined) {
    return {
      dest: url,
      flags: ['--s3-endpoint', options.s3.endpoint as string, '--s3-path-style'],
      env: { AWS_ACCESS_KEY_ID: TEST_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: TEST_SECRET, AWS_REGION: 'us-east-1', AWS_PROFILE: '', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' },
    };
  }
  const sftp = options.sftp ?? {};
  return { dest: url, flags: ['--sftp-identity', sftp.privateKeyPath as string, '--sftp-host-key', sftp.hostKey as string], env: { SSH_AUTH_SOCK: '' } };
}

/**
 * Runs the CLI without blocking this process: the fault proxy in front of the servers lives in it
 * (spawnSync would stop the proxy and the CLI would wait on it forever).
 */
async function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const running = startCli(args, options);
  const timer = setTimeout(() => running.child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  try {
    return await running.done;
  } finally {
    clearTimeout(timer);
  }
}

async function runCliJson(args: readonly string[], options: RunOptions = {}): Promise<{ result: CliResult; items: JsonObject[] }> {
  const result = await runCli(args, options);
  return { result, items: parseJsonArray(result) };
}

async function names(dest: Destination, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of dest.list(prefix) as AsyncIterable<ListEntry>) out.push(e.name);
  return out.sort();
}

function buildTree(root: string): void {
  for (let d = 0; d < 4; d++) for (let f = 0; f < 60; f++) writeFile(root, `d${d}/f${f}.txt`, `file ${d}/${f}\n`.repeat(1 + ((d * 60 + f) % 41)));
  // Incompressible, so the archive is several multipart parts: kills land inside uploads.
  for (let b = 0; b < 3; b++) writeFile(root, `big/b${b}.bin`, Buffer.from(Array.from({ length: 6 * 1024 * 1024 }, (_, i) => (i * 2654435761 + b * 97) & 0xff)));
  writeFile(root, 'empty/.keep', '');
  fs.symlinkSync('d0/f0.txt', path.join(root, 'link'));
}

describe.each([s3Subject(), sftpSubject()].map((s) => [s.label, s] as [string, Subject]))('the CLI on a %s destination', (label, subject) => {
  const maybe = subject.unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (subject.unavailable === undefined ? t : `${t} - SKIPPED: ${subject.unavailable}`);
  let work: string | undefined;

  beforeAll(async () => {
    if (subject.unavailable === undefined) await subject.start();
  }, 120_000);
  afterAll(async () => {
    removeTempDir(work);
    if (subject.unavailable === undefined) await subject.stop();
  });

  maybe(title('backup, list, restore and verify; SIGKILL anywhere in a tar.gz backup leaves nothing listed that is not whole, and the next run recovers'), async () => {
    await subject.fresh();
    work = makeTempDir('remote-cli');
    const src = path.join(work, 'src');
    buildTree(src);
    const { dest, flags, env } = cliTarget(subject);
    const opts: RunOptions = { env, timeoutMs: 120_000 };
    const backup = (type: string): Promise<{ result: CliResult; items: JsonObject[] }> => runCliJson(['backup', src, '--dest', dest, ...flags, '--set', SET, '--type', type, '--format', 'tar.gz', '--json', '--lock-timeout', '120'], opts);

    const started = Date.now();
    const first = await backup('full');
    const fullMs = Date.now() - started;
    expectExit(first.result, 0);
    expect(asBackupItem(first.items[0])).toMatchObject({ type: 'full', errorCount: 0, destination: dest });

    const store = await subject.open();
    try {
      for (const [round, fraction] of KILL_FRACTIONS.entries()) {
        writeFile(src, `d${round % 4}/f${round}.txt`, `round ${round}\n`);
        const running = startCli(['backup', src, '--dest', dest, ...flags, '--set', SET, '--type', round % 2 === 0 ? 'full' : 'incremental', '--format', 'tar.gz', '--json'], opts);
        await sleep(Math.round(fullMs * fraction));
        running.child.kill('SIGKILL');
        await running.done;

        const listed = await runCliJson(['list', '--dest', dest, ...flags, '--set', SET, '--json'], opts);
        expectExit(listed.result, 0);
        for (const item of listed.items) expect(item.complete).toBe(true);

        const next = await backup('incremental');
        expectExit(next.result, 0);
        const item = asBackupItem(next.items[0]);
        expect(item.errorCount).toBe(0);
        // Nothing without backup.json is left in the set, and (S3) no interrupted multipart upload.
        const ids = new Set((await names(store, `${SET}/`)).map((n) => n.split('/')[1]).filter((id) => /^\d{8}T/.test(id)));
        for (const id of ids) expect(await store.stat(`${SET}/${id}/backup.json`)).toBeDefined();
        if (label === 's3') {
          const { url, options } = subject.target();
          const s3 = options.s3 ?? {};
          const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3.credentials });
          try {
            const bucket = url.slice('s3://'.length).split('/')[0];
            const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
            expect(uploads.Uploads ?? []).toEqual([]);
          } finally {
            client.destroy();
          }
        }
      }
    } finally {
      await store.close();
    }

    // The newest backup restores the source exactly; every listed one verifies in full.
    const target = path.join(work, `restored`);
    fs.mkdirSync(target);
    expectExit(await runCli(['restore', '--dest', dest, ...flags, '--set', SET, '--target', target, '--json'], opts), 0);
    expect(compareSnapshots(snapshotTree(src), snapshotTree(target))).toEqual([]);
    const verified = await runCli(['verify', '--dest', dest, ...flags, '--set', SET, '--full', '--json'], opts);
    expect(verified.status).toBe(0);
    expect(parseJsonArray(verified)[0]).toMatchObject({ ok: true });
  }, 900_000);

  maybe(title('a missing bucket or a changed host key: its own code, exit 1, no secret in the output'), async () => {
    await subject.fresh();
    work ??= makeTempDir('remote-cli');
    const src = path.join(work, 'src-small');
    writeFile(src, 'a.txt', 'a');
    const { dest, flags, env } = cliTarget(subject);
    let result;
    if (label === 's3') {
      // moto accepts any signature (refused credentials: test/destination/refusals.test.ts): a missing bucket here.
      result = await runCli(['backup', src, '--dest', dest.replace(/^s3:\/\/[^/]+/, 's3://no-such-bucket-here'), ...flags, '--set', SET, '--format', 'tar.gz', '--json'], { env });
    } else {
      const other = flags.slice();
      other[other.indexOf('--sftp-host-key') + 1] = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
      result = await runCli(['backup', src, '--dest', dest, ...other, '--set', SET, '--format', 'tar.gz', '--json'], { env });
    }
    expect(result.status).toBe(1);
    const [item] = parseJsonArray(result);
    expect(item.code).toBe(label === 's3' ? 'DESTINATION_NOT_FOUND' : 'HOST_KEY_CHANGED');
    expect(result.stdout + result.stderr).not.toContain(TEST_SECRET);
    expect(describeRun(result)).not.toContain(TEST_SECRET);
  }, 120_000);

  maybe(title('every run exits when done: full, then auto with nothing changed (it drops its manifest upload), in tar.gz and folder'), async () => {
    await subject.fresh();
    work ??= makeTempDir('remote-cli');
    const src = path.join(work, 'src-exit');
    for (let i = 0; i < 30; i++) writeFile(src, `f${i}.txt`, `exit ${i}\n`);
    const { dest, flags, env } = cliTarget(subject);
    for (const format of ['tar.gz', 'folder']) {
      for (const type of ['full', 'auto', 'auto']) {
        // A run that printed its result but kept a connection open never exits: killed after 60 s.
        const started = Date.now();
        const result = await runCli(['backup', src, '--dest', dest, ...flags, '--set', `exit-${format.replace('.', '')}`, '--type', type, '--format', format, '--json'], { env, timeoutMs: 60_000 });
        expect([format, type, result.signal ?? null, result.status]).toEqual([format, type, null, 0]);
        expect(Date.now() - started).toBeLessThan(60_000);
      }
    }
  }, 600_000);
});
