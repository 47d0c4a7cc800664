'use strict';
// Remote rows of the benchmark (issue 13): this project's CLI writing to S3 (a moto_server) and to
// SFTP (OpenSSH's sshd), both started here on loopback with throwaway keys and stopped by PID at the
// end (and on exit or interrupt), beside restic (its s3: and sftp: backends) and rclone (s3 and sftp
// remotes) writing the same small dataset to the same servers:
//   - full tar.gz backup vs restic backup (fresh repository) vs rclone copy (empty target);
//   - no-change incremental and auto vs restic's no-change backup;
//   - S3 only: restore of the latest backup vs restic restore latest.
// Servers are those of the tests (test/helpers/loopbackServers.js). The stores run on this machine
// and hold their data in memory (moto) or on the same disk (sshd): the rows compare the clients'
// protocol work and CPU, not a network; moto is a mock, not a speed reference, but all three pay it.
// The store is emptied between the runs of a full (untimed). Timed like every row: the command plus
// a `sync`; ratios are ours / peer of the same round.
const fs = require('node:fs');
const path = require('node:path');
const { startMoto, startSshd, SSHD } = require('../test/helpers/loopbackServers.js');

const BUCKET = 'bench';
// moto checks no signature: any key works. Set for our CLI, restic and rclone.
const AWS_KEYS = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench-secret', AWS_REGION: 'us-east-1' };
const RESTIC_PASSWORD = 'bench';
// A command still running after this long is hung, not slow: killed (SIGKILL) and reported, so the
// bench goes on. No-change runs take seconds on the small set; a full or a restore about a minute.
const HUNG_NO_CHANGE_S = 120;
const HUNG_S = 1800;

/** What the remote rows need installed; the rows of a missing one are skipped with a note. */
function remoteAvailability(peers, have) {
  return { moto: have('moto_server'), sshd: fs.existsSync(SSHD), restic: !!peers.restic, rclone: !!peers.rclone };
}

/** Servers started here, killed by PID by a process 'exit' handler if the run ends without stopping them. */
const live = new Set();
process.on('exit', () => {
  for (const s of live) s.killNow();
});

async function started(start) {
  const server = await start();
  live.add(server);
  return server;
}

async function stopped(server) {
  if (!server) return;
  await server.stop();
  live.delete(server);
}

/** One remote kind (S3 or SFTP): how each tool is pointed at it and how it is emptied between runs. */
function s3Remote(ctx, moto) {
  const cacheDir = path.join(ctx.work, 'restic-cache-s3');
  return {
    name: 'S3', server: 'moto_server',
    ours: { dest: `s3://${BUCKET}/ours`, args: ['--s3-endpoint', moto.endpoint, '--s3-path-style'], env: AWS_KEYS },
    restic: { args: [], env: { ...AWS_KEYS, RESTIC_REPOSITORY: `s3:${moto.endpoint}/${BUCKET}/restic`, RESTIC_PASSWORD, RESTIC_CACHE_DIR: cacheDir } },
    rclone: {
      target: `moto:${BUCKET}/rclone`,
      env: {
        RCLONE_CONFIG: path.join(ctx.work, 'rclone.conf'), // empty: the remote is defined by the variables below
        RCLONE_CONFIG_MOTO_TYPE: 's3', RCLONE_CONFIG_MOTO_PROVIDER: 'Other', RCLONE_CONFIG_MOTO_ENDPOINT: moto.endpoint,
        RCLONE_CONFIG_MOTO_FORCE_PATH_STYLE: 'true', RCLONE_CONFIG_MOTO_REGION: AWS_KEYS.AWS_REGION,
        RCLONE_CONFIG_MOTO_ACCESS_KEY_ID: AWS_KEYS.AWS_ACCESS_KEY_ID, RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY: AWS_KEYS.AWS_SECRET_ACCESS_KEY,
        AWS_CA_BUNDLE: undefined, // rclone refuses to start with it set (LoadCustomCABundleError); undefined drops it from the child's environment
      },
    },
    /** Wipes moto (frees its memory) and makes the bucket again; untimed. */
    clear: async () => {
      await moto.reset();
      // moto takes an unsigned CreateBucket (it checks no signature): no S3 client needed here.
      const res = await fetch(`${moto.endpoint}/${BUCKET}`, { method: 'PUT' });
      if (!res.ok) throw new Error(`moto_server: creating bucket ${BUCKET} answered ${res.status}`);
      fs.rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

function sftpRemote(ctx, sshd) {
  const root = path.join(ctx.work, 'sftp-root'); // served by the sshd from this machine's disk
  const cacheDir = path.join(ctx.work, 'restic-cache-sftp');
  const ssh = `ssh -p ${sshd.port} -i ${sshd.clientKey} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=${sshd.knownHosts} -o StrictHostKeyChecking=yes ${sshd.user}@127.0.0.1 -s sftp`;
  return {
    name: 'SFTP', server: 'sshd',
    ours: { dest: `sftp://${sshd.user}@127.0.0.1:${sshd.port}${root}/ours`, args: ['--sftp-identity', sshd.clientKey, '--sftp-host-key', sshd.hostKey], env: {} },
    restic: { args: ['-o', `sftp.command=${ssh}`], env: { RESTIC_REPOSITORY: `sftp:${sshd.user}@127.0.0.1:${root}/restic`, RESTIC_PASSWORD, RESTIC_CACHE_DIR: cacheDir } },
    rclone: {
      target: `sshd:${root}/rclone`,
      env: {
        RCLONE_CONFIG: path.join(ctx.work, 'rclone.conf'),
        RCLONE_CONFIG_SSHD_TYPE: 'sftp', RCLONE_CONFIG_SSHD_HOST: '127.0.0.1', RCLONE_CONFIG_SSHD_PORT: String(sshd.port), RCLONE_CONFIG_SSHD_USER: sshd.user,
        RCLONE_CONFIG_SSHD_KEY_FILE: sshd.clientKey, RCLONE_CONFIG_SSHD_KNOWN_HOSTS_FILE: sshd.knownHosts,
        // Otherwise rclone runs `md5sum` on the server after every file (50,000 ssh exec sessions); we
        // and restic verify nothing on the server either.
        RCLONE_CONFIG_SSHD_DISABLE_HASHCHECK: 'true',
      },
    },
    clear: async () => {
      fs.rmSync(root, { recursive: true, force: true });
      fs.mkdirSync(path.join(root, 'ours'), { recursive: true }); // our CLI wants the remote folder to exist (DESTINATION_NOT_FOUND)
      fs.rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

/** Full tar.gz vs restic backup (fresh repository, init untimed) vs rclone copy (empty target); the store is emptied after each run. */
async function measureFull(ctx, h, r, avail) {
  const src = ctx.data.small;
  const set = 'bench-remote';
  const tools = [
    {
      key: 'ours', label: `n8n-backup full tar.gz -> ${r.name}`,
      run: () => h.ours(['backup', src, '--dest', r.ours.dest, ...r.ours.args, '--type', 'full', '--format', 'tar.gz', '--set', set], r.ours.env, { timeoutSeconds: HUNG_S }),
      after: r.clear,
    },
    {
      key: 'restic', label: `restic backup -> ${r.name}`, skip: !avail.restic,
      run: () => {
        h.must('restic', ['init', '-q', ...r.restic.args], r.restic.env);
        return h.peer('restic', ['backup', '-q', '--host', 'bench', ...r.restic.args, src], r.restic.env, { timeoutSeconds: HUNG_S });
      },
      after: r.clear,
    },
    {
      key: 'rclone', label: `rclone copy -> ${r.name}`, skip: !avail.rclone, runs: ctx.opts.rcloneRuns,
      run: () => h.peer('rclone', ['copy', src, r.rclone.target], r.rclone.env, { timeoutSeconds: HUNG_S }),
      after: r.clear,
    },
  ];
  await r.clear();
  const s = await h.interleave(`full -> ${r.name}`, ctx.opts.runs, tools);
  const id = r.name.toLowerCase();
  h.addTimeRow(`${id}-full-restic`, `full tar.gz to ${r.name} vs restic backup (first, encrypted)`, 'n8n-backup full tar.gz', s.ours, 'restic backup', s.restic, null, 'restic skipped, see notes');
  h.addTimeRow(`${id}-full-rclone`, `full tar.gz to ${r.name} vs rclone copy (file by file)`, 'n8n-backup full tar.gz', s.ours, 'rclone copy', s.rclone, null, 'rclone skipped, see notes');
}

/**
 * After one untimed full of each (ours tar.gz, restic): no-change incremental (writes a manifest and
 * a backup.json) and auto (writes nothing) vs restic's no-change backup (writes a snapshot); then,
 * with `restore`, restore of the latest vs restic restore latest (the restored tree is checked once).
 */
async function measureNoChange(ctx, h, r, avail, { restore }) {
  const src = ctx.data.small;
  const set = 'bench-remote-nc';
  const backup = (type, timeoutSeconds = HUNG_NO_CHANGE_S) => h.ours(['backup', src, '--dest', r.ours.dest, ...r.ours.args, '--type', type, '--format', 'tar.gz', '--set', set], r.ours.env, { timeoutSeconds });
  const restic = (...args) => h.peer('restic', [...args, ...r.restic.args], r.restic.env, { timeoutSeconds: HUNG_S });
  await r.clear();
  h.log(`  no-change setup (${r.name}): full tar.gz${avail.restic ? ', restic init + first backup' : ''} (untimed)`);
  backup('full', HUNG_S);
  if (avail.restic) {
    h.must('restic', ['init', '-q', ...r.restic.args], r.restic.env);
    restic('backup', '-q', '--host', 'bench', src);
  }
  await h.checkpoint();
  const s = await h.interleave(`no-change -> ${r.name}`, ctx.opts.runs, [
    { key: 'incr', label: `n8n-backup --type incremental -> ${r.name}`, failSoft: true, run: () => backup('incremental') },
    { key: 'auto', label: `n8n-backup --type auto -> ${r.name}`, failSoft: true, run: () => backup('auto') },
    { key: 'restic', label: `restic backup (no change) -> ${r.name}`, skip: !avail.restic, run: () => restic('backup', '-q', '--host', 'bench', src) },
  ]);
  const id = r.name.toLowerCase();
  h.addTimeRow(`${id}-noChange-restic`, `no-change incremental to ${r.name} vs restic backup`, 'n8n-backup --type incremental', s.incr, 'restic backup', s.restic, null, 'restic skipped, see notes');
  h.addTimeRow(`${id}-noChangeAuto-restic`, `no-change auto to ${r.name} (nothing written) vs restic backup`, 'n8n-backup --type auto', s.auto, 'restic backup', s.restic, null, 'restic skipped, see notes');
  if (!restore) return;
  const target = path.join(ctx.work, 'remote-restore-ours');
  const resticTarget = path.join(ctx.work, 'remote-restore-restic');
  const t = await h.interleave(`restore <- ${r.name}`, ctx.opts.runs, [
    {
      key: 'ours', label: `n8n-backup restore latest <- ${r.name}`, failSoft: true,
      run: () => h.ours(['restore', '--dest', r.ours.dest, ...r.ours.args, '--set', set, '--backup', 'latest', '--target', target], r.ours.env, { timeoutSeconds: HUNG_S }),
      after: (i) => {
        if (i === 0 && fs.existsSync(target)) h.checkRestore(src, target);
        h.rmrf(target);
      },
    },
    { key: 'restic', label: `restic restore latest <- ${r.name}`, skip: !avail.restic, run: () => restic('restore', 'latest', '--target', resticTarget), after: () => h.rmrf(resticTarget) },
  ]);
  h.addTimeRow(`${id}-restore-restic`, `restore latest from ${r.name} vs restic restore`, 'n8n-backup restore', t.ours, 'restic restore', t.restic, null, 'restic skipped, see notes');
}

/**
 * Starts the servers, measures S3 then SFTP (each part a step of its own: one failing does not stop
 * the other), stops the servers. h: the helpers of run.js.
 */
async function measureRemote(ctx, h) {
  const avail = remoteAvailability(ctx.peers, h.have);
  if (!avail.restic) h.note('remote: restic missing, its rows are skipped');
  if (!avail.rclone) h.note('remote: rclone missing, its rows are skipped');
  let moto = null;
  let sshd = null;
  try {
    const kinds = ctx.opts.remoteKinds ?? ['s3', 'sftp'];
    if (!kinds.includes('s3')) h.note('remote: S3 rows left out (--remote-kinds)');
    else if (!avail.moto) h.note('remote: moto_server missing (it comes with the machine image, pip install "moto[server]"): S3 rows skipped');
    else {
      await h.step(`remote: full tar.gz to S3 (moto_server) vs restic, rclone`, async () => {
        moto = await started(startMoto);
        await measureFull(ctx, h, s3Remote(ctx, moto), avail);
      });
      if (moto) await h.step('remote: no-change and restore, S3 (moto_server) vs restic', () => measureNoChange(ctx, h, s3Remote(ctx, moto), avail, { restore: true }));
      await stopped(moto); // frees moto's memory before the SFTP rows
      moto = null;
    }
    if (!kinds.includes('sftp')) h.note('remote: SFTP rows left out (--remote-kinds)');
    else if (!avail.sshd) h.note(`remote: ${SSHD} missing (apt-get install openssh-server): SFTP rows skipped`);
    else {
      await h.step('remote: full tar.gz to SFTP (sshd) vs restic, rclone', async () => {
        sshd = await started(startSshd);
        await measureFull(ctx, h, sftpRemote(ctx, sshd), avail);
      });
      if (sshd) await h.step('remote: no-change, SFTP (sshd) vs restic', () => measureNoChange(ctx, h, sftpRemote(ctx, sshd), avail, { restore: false }));
    }
  } finally {
    await stopped(moto);
    await stopped(sshd);
  }
}

module.exports = { measureRemote };
