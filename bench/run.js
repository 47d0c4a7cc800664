#!/usr/bin/env node
'use strict';
// Benchmark: this project's CLI (node dist/cli/run.js, a black box) side by side with native tools
// (cp -a, tar -czf, tar | pigz, rsync -a, restic) on the deterministic datasets of bench/make-dataset.mjs.
// See issue 6. Run with `npm run bench` (builds first) or `node bench/run.js [flags]`:
//
//   --runs N            runs per tool and measurement (default 3); tools are interleaved A, B, A, B
//   --large-runs N      runs for the large dataset (default min(2, runs))
//   --skip-large        leave out the large dataset (8 x 128 MiB)
//   --skip-scale        leave out the 1,000,000-entry scale check
//   --scale             run only the scale check
//   --scale-entries N   entries in the synthetic scale tree (default 1,000,000)
//   --no-install        never apt-get a missing peer (rsync, restic, rclone, pigz, sshd, GNU time): skip it
//   --no-remote         leave out the remote rows (S3 on moto_server, SFTP on sshd; bench/remote.js)
//   --remote            run only the remote rows (with --smoke: on the smoke dataset, a quick try)
//   --rclone-runs N     runs of rclone copy in the remote full rows (default 1: 50,000 PUTs to moto take minutes)
//   --remote-kinds K    which remote rows: s3, sftp or s3,sftp (default); e.g. --remote --remote-kinds sftp
//   --smoke             tiny self-generated dataset, 1 run, no large, no restic, 20,000-entry scale
//                       check, no installs (a missing peer is skipped); exits non-zero only when
//                       one of OUR commands fails or a restore differs (targets are reported,
//                       never enforced). No remote rows. For CI: seconds, not minutes.
//   env BENCH_CLI=path  benchmark another build's dist/cli/run.js (e.g. a baseline checkout)
//
// Every timed command runs after `sync`, under /usr/bin/time -f %M for the peak RSS. Times are wall
// clock (hrtime around the spawn). A command that writes is timed up to and including a `sync` after
// it, so a tool that makes its data durable (ours fsyncs) and one that leaves it in the page cache
// (cp, rsync, tar) pay for the same writeback; the time without that final sync is kept beside it.
// The tools of a measurement alternate run by run (A, B, A, B, ...), and each round gives one paired
// ratio ours/peer: the row reports the median of the paired ratios with their min and max, and
// "met?" is judged on that median (this VM's write times swing up to 8x between runs, so a ratio of
// minimums taken from different rounds misleads). Results: bench/results/latest.{json,md} plus a
// timestamped JSON copy (smoke-* and scale-* for those modes). Datasets are cached in
// bench/.cache/data (kept); work folders go to bench/.cache/work/run-<pid> (always removed).
// The remote rows (our CLI and restic/rclone against a moto_server and an sshd this bench starts
// and stops) are in bench/remote.js.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const CACHE = path.join(__dirname, '.cache');
const RESULTS = path.join(__dirname, 'results');
const CLI = path.resolve(process.env.BENCH_CLI || path.join(ROOT, 'dist', 'cli', 'run.js')); // BENCH_CLI: another build, e.g. a baseline
const { measureRemote } = require('./remote.js');

const GEN = path.join(__dirname, 'make-dataset.mjs');
const TIME_BIN = '/usr/bin/time';
const MiB = 1024 * 1024;
const KiB_PER_MiB = 1024;

// Expected manifests of the shared datasets for seed 1 (../shared/bench/README.md).
const EXPECTED = {
  small: 'cf1aa9f65192e00e386cd22aa7737fe0df738db0d7a23e83d5abfc71ceb8e46e files=50000 dirs=2110 bytes=436471791',
  large: 'b775ebfa99c5957060f6d5ca418ce425a1cb21e1c9cc6b07f6bc2ca81e5e3f3e files=8 dirs=0 bytes=1073741824',
};
const SMOKE_DATASET = ['--files', '2000', '--dirs-per-level', '4,5,5'];
// Targets of issue 17: ratio = ours/peer (median of the paired ratios); rss in MiB.
const TARGET = {
  fullFolderSmall: 1.0, fullFolderLarge: 2.0, noChangeAuto: 1.2, mutated: 1.1, tarGzPigz: 1.0, restore: 1.0,
  rssFullMiB: 200, rssScaleMiB: 400,
};

// commandLimitS: no timed command may run longer (a hang fails the bench with the command's name
// instead of running into CI's time limit); main() sets it by mode.
const state = { rows: [], notes: [], failures: [], extra: {}, interrupted: false, timeAvailable: false, commandLimitS: 3600 };

class Interrupted extends Error {}
class OurFailure extends Error {}
class PeerFailure extends Error {}

// ---------- small helpers ----------
const log = (msg = '') => process.stdout.write(msg + '\n');
const note = (msg) => { state.notes.push(msg); log(`NOTE: ${msg}`); };
const fmtS = (s) => (s == null ? '-' : `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`);
const fmtMiB = (kib) => (kib == null ? '-' : `${(kib / KiB_PER_MiB).toFixed(0)} MiB`);
const fmtRatio = (r) => (r == null ? '-' : `${r.toFixed(2)}x`);
const fmtInt = (n) => (n == null ? '-' : n.toLocaleString('en-US'));
const min = (xs) => Math.min(...xs);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const rmrf = (p) => spawnSync('rm', ['-rf', '--', p], { stdio: 'ignore' });
const syncDisks = () => spawnSync('sync', [], { stdio: 'ignore' });
const have = (bin) => spawnSync('sh', ['-c', `command -v "${bin}"`], { stdio: 'ignore' }).status === 0;

/** Lets a pending SIGINT/SIGTERM handler run (the timed spawns are synchronous) and stops if one came. */
async function checkpoint() {
  await new Promise((resolve) => setImmediate(resolve));
  if (state.interrupted) throw new Interrupted('interrupted');
}

function parseArgs(argv) {
  const o = { runs: 3, largeRuns: null, skipLarge: false, skipScale: false, scaleOnly: false, scaleEntries: 1_000_000, smoke: false, install: true, remote: 'on', rcloneRuns: 1, remoteKinds: ['s3', 'sftp'] };
  const num = (i) => {
    const n = Number(argv[i + 1]);
    if (!Number.isInteger(n) || n < 1) usage(`${argv[i]} needs a positive integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--runs': o.runs = num(i++); break;
      case '--large-runs': o.largeRuns = num(i++); break;
      case '--skip-large': o.skipLarge = true; break;
      case '--skip-scale': o.skipScale = true; break;
      case '--scale': o.scaleOnly = true; break;
      case '--scale-entries': o.scaleEntries = num(i++); break;
      case '--no-install': o.install = false; break;
      case '--smoke': o.smoke = true; break;
      case '--no-remote': o.remote = 'off'; break;
      case '--remote': o.remote = 'only'; break;
      case '--rclone-runs': o.rcloneRuns = num(i++); break;
      case '--remote-kinds': {
        const kinds = String(argv[++i] ?? '').split(',').filter((k) => k !== '');
        if (kinds.length === 0 || kinds.some((k) => k !== 's3' && k !== 'sftp')) usage('--remote-kinds takes s3, sftp or s3,sftp');
        o.remoteKinds = kinds;
        break;
      }
      case '-h': case '--help': o.help = true; break;
      default: usage(`unknown argument ${argv[i]}`);
    }
  }
  if (o.smoke) {
    o.runs = 1;
    o.skipLarge = true;
    o.install = false;
    if (!argv.includes('--scale-entries')) o.scaleEntries = 20_000;
  }
  if (o.scaleOnly && o.skipScale) usage('--scale and --skip-scale exclude each other');
  if (o.remote === 'only' && (o.scaleOnly || argv.includes('--no-remote'))) usage('--remote excludes --scale and --no-remote');
  if ((o.smoke || o.scaleOnly) && o.remote === 'on') o.remote = 'off'; // CI's smoke run must stay seconds long and need neither restic nor rclone
  if (o.remote === 'only') {
    o.skipLarge = true;
    o.skipScale = true;
  }
  if (o.largeRuns == null) o.largeRuns = Math.min(2, o.runs);
  return o;
}

function usage(msg) {
  if (msg) process.stderr.write(`bench: ${msg}\n`);
  const header = fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 22).map((l) => l.replace(/^\/\/ ?/, ''));
  process.stderr.write(header.join('\n') + '\n');
  process.exit(msg ? 2 : 0);
}

// ---------- running and timing commands ----------
/**
 * Runs cmd once under /usr/bin/time (when available) and returns wall seconds (hrtime), peak RSS in
 * KiB (%M, or null), exit status and output. stdout is left alone (our --json goes there); the time
 * line is parsed from the end of stderr and removed from it.
 */
function timeCommand(cmd, args, { env, cwd, syncAfter = false, timeoutSeconds = state.commandLimitS } = {}) {
  const useTime = state.timeAvailable;
  const file = useTime ? TIME_BIN : cmd;
  const argv = useTime ? ['-f', 'BENCH_TIME %e %M', cmd, ...args] : args;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(file, argv, {
    cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 512 * MiB, stdio: ['ignore', 'pipe', 'pipe'],
    // SIGKILL: a command that hangs after its work may also ignore SIGTERM (seen: our CLI after a no-change auto to SFTP)
    ...(timeoutSeconds ? { timeout: timeoutSeconds * 1000, killSignal: 'SIGKILL' } : {}),
  });
  const t1 = process.hrtime.bigint();
  if (syncAfter) syncDisks(); // the writeback the command left behind is part of its cost
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const commandSeconds = Number(t1 - t0) / 1e9;
  let stderr = r.stderr || '';
  let rssKiB = null;
  let elapsed = null;
  let signal = r.signal;
  if (useTime) {
    const m = stderr.match(/BENCH_TIME (\S+) (\d+)\s*$/);
    if (m) {
      elapsed = Number(m[1]);
      rssKiB = Number(m[2]);
      stderr = stderr.slice(0, m.index);
    }
    const s = stderr.match(/Command terminated by signal (\d+)\s*$/);
    if (s) signal = Number(s[1]);
    stderr = stderr.replace(/Command (exited with non-zero status \d+|terminated by signal \d+)\s*$/, '');
  }
  if (r.signal === 'SIGINT' || signal === 2 || r.status === 130) state.interrupted = true;
  return { seconds, commandSeconds, elapsed, rssKiB, status: r.status, signal, stdout: r.stdout || '', stderr: stderr.trim(), error: r.error };
}

/** Our CLI (with --json), timed. Throws OurFailure on a non-zero exit, bad JSON or per-file errors. */
function ours(args, env, { writes = true, timeoutSeconds = state.commandLimitS } = {}) {
  const r = timeCommand(process.execPath, [CLI, ...args, '--json'], { env, syncAfter: writes, timeoutSeconds });
  const what = `n8n-backup ${args.join(' ')}`;
  if (r.error?.code === 'ETIMEDOUT') throw new OurFailure(`${what}: still running after ${timeoutSeconds} s, killed; its output so far: ${(r.stdout || '').slice(0, 300)}`);
  if (r.error) throw new OurFailure(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new OurFailure(`${what} exited ${r.status ?? `by signal ${r.signal}`}: ${(r.stderr || r.stdout).slice(0, 800)}`);
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new OurFailure(`${what}: stdout is not JSON: ${r.stdout.slice(0, 300)}`);
  }
  for (const item of Array.isArray(json) ? json : [json]) {
    if (item.error) throw new OurFailure(`${what}: ${item.code}: ${item.error}`);
    if (item.errorCount) throw new OurFailure(`${what}: ${item.errorCount} per-file errors, first: ${JSON.stringify(item.errors[0])}`);
  }
  return { seconds: r.seconds, commandSeconds: r.commandSeconds, rssKiB: r.rssKiB, json };
}

/** A peer tool, timed (with the sync after it when it writes). Throws PeerFailure on a non-zero exit. */
function peer(cmd, args, env, { writes = true, timeoutSeconds = state.commandLimitS } = {}) {
  const r = timeCommand(cmd, args, { env, syncAfter: writes, timeoutSeconds });
  if (r.error?.code === 'ETIMEDOUT') throw new PeerFailure(`${cmd} ${args.join(' ')}: still running after ${timeoutSeconds} s, killed`);
  if (r.error || r.status !== 0) {
    throw new PeerFailure(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.error?.message || r.stderr).slice(0, 400)}`);
  }
  return { seconds: r.seconds, commandSeconds: r.commandSeconds, rssKiB: r.rssKiB };
}

/** An untimed helper command that must succeed. */
function must(cmd, args, env) {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * MiB });
  if (r.signal === 'SIGINT' || r.status === 130) state.interrupted = true;
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.error?.message || r.stderr || '').slice(0, 400)}`);
  return r;
}

/**
 * Runs each tool `runs` times, interleaved (A, B, A, B, ...; with rotate, the order shifts by one each
 * round), each after `sync`; `after` (cleanup, may be async) always runs, untimed. A failing peer is dropped with a
 * note; a failing command of ours propagates (with failSoft: recorded as a failure, that tool dropped). Returns { key: [samples] }.
 */
async function interleave(title, runs, tools, { rotate = false, beforeRound } = {}) {
  const samples = Object.fromEntries(tools.map((t) => [t.key, []]));
  for (let i = 0; i < runs; i++) {
    if (beforeRound) {
      await beforeRound(i);
      await checkpoint();
    }
    const order = rotate ? tools.map((_, k) => tools[(k + i) % tools.length]) : tools;
    for (const t of order) {
      if (t.skip || (t.runs != null && i >= t.runs)) continue; // t.runs: a slow peer measured in the first rounds only
      syncDisks();
      try {
        const s = t.run(i);
        if (state.interrupted) throw new Interrupted('interrupted');
        samples[t.key].push({ ...s, round: i });
        log(`  ${title} ${i + 1}/${runs}  ${t.label.padEnd(34)} ${fmtS(s.seconds).padStart(8)}${s.rssKiB != null ? `  ${fmtMiB(s.rssKiB).padStart(8)}` : ''}`);
      } catch (e) {
        if (state.interrupted) throw e;
        if (e instanceof OurFailure && t.failSoft) {
          // counted as a failure (the exit status says so), but the other tools' rows are still measured
          t.skip = true;
          state.failures.push(`${title}: ${t.label}: ${e.message}`);
          log(`FAILED: ${title}: ${t.label} left out: ${e.message}`);
          continue;
        }
        if (!(e instanceof PeerFailure)) throw e;
        t.skip = true;
        note(`${title}: peer ${t.label} failed, left out: ${e.message}`);
      } finally {
        if (t.after) await t.after(i);
      }
      await checkpoint();
    }
  }
  return samples;
}

// ---------- result rows ----------
function summary(samples) {
  if (!samples || !samples.length) return null;
  const secs = samples.map((s) => s.seconds);
  const rss = samples.map((s) => s.rssKiB).filter((x) => x != null);
  return { runs: secs.map((x) => Number(x.toFixed(4))), min: min(secs), median: median(secs), peakRssKiB: rss.length ? Math.max(...rss) : null };
}

/**
 * Ratios ours/peer of the rounds both ran (paired by round: the two ran back to back, so they saw
 * the same state of the machine), on `field` (seconds, or commandSeconds: without the final sync).
 */
function pairedRatios(oursSamples, peerSamples, field = 'seconds') {
  const peerByRound = new Map((peerSamples ?? []).map((s) => [s.round, s]));
  const ratios = [];
  for (const o of oursSamples ?? []) {
    const p = peerByRound.get(o.round);
    if (p && o[field] != null && p[field] != null && p[field] > 0) ratios.push(o[field] / p[field]);
  }
  return ratios.length ? { median: median(ratios), min: min(ratios), max: Math.max(...ratios), pairs: ratios.length, ratios: ratios.map((r) => Number(r.toFixed(4))) } : null;
}

/**
 * A time row: ours vs a peer. The figure that counts is the median of the paired ratios (min and max
 * beside it); "met?" is judged on it. The ratio without the final sync shows what durability costs
 * us beside peers that leave their writes in the page cache.
 */
function addTimeRow(id, measurement, oursLabel, oursSamples, peerLabel, peerSamples, target = null, skipNote = null) {
  const o = summary(oursSamples);
  const p = summary(peerSamples);
  const paired = pairedRatios(oursSamples, peerSamples);
  const pairedNoSync = pairedRatios(oursSamples, peerSamples, 'commandSeconds');
  const met = target == null || paired == null ? null : Math.round(paired.median * 100) / 100 <= target; // judged as printed (2 decimals)
  state.rows.push({
    id, kind: 'time', measurement, ours: o && { label: oursLabel, ...o }, peer: p ? { label: peerLabel, ...p } : null,
    paired, pairedNoSync, ratioMin: o && p ? o.min / p.min : null,
    target: target == null ? null : { ratio: target }, met, note: p ? null : skipNote || `${peerLabel}: not measured`,
  });
}

/** A peak-RSS row (ours only), target in MiB. */
function addRssRow(id, measurement, rssKiB, targetMiB = null, info = null) {
  const met = targetMiB == null || rssKiB == null ? null : rssKiB / KiB_PER_MiB <= targetMiB;
  state.rows.push({ id, kind: 'rss', measurement, ours: { peakRssKiB: rssKiB, ...info }, peer: null, target: targetMiB == null ? null : { rssMiB: targetMiB }, met, note: rssKiB == null ? '/usr/bin/time missing: no RSS' : null });
}

// ---------- setup ----------
function workDir() {
  const base = path.join(CACHE, 'work');
  fs.mkdirSync(base, { recursive: true });
  // Leftovers of an earlier run that was killed (its process is gone); a concurrent run is left alone.
  for (const name of fs.readdirSync(base)) {
    const m = name.match(/^run-(\d+)$/);
    if (m && !alive(Number(m[1]))) rmrf(path.join(base, name));
  }
  const dir = path.join(base, `run-${process.pid}`);
  rmrf(dir);
  fs.mkdirSync(dir);
  return dir;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** rsync, restic, pigz, /usr/bin/time (and for the remote rows rclone, sshd): apt-get them when missing (root, apt-get, installs allowed), else skip with a note. */
function ensurePeers(opts) {
  const wanted = opts.scaleOnly ? [['time', TIME_BIN]] : [['rsync', 'rsync'], ['restic', 'restic'], ['pigz', 'pigz'], ['time', TIME_BIN]];
  const found = {};
  if (opts.smoke && !opts.scaleOnly && opts.remote !== 'only') {
    wanted.splice(1, 1); // restic needs a repository and key derivation per call: seconds the smoke run cannot spare
    note('smoke: restic left out (the full bench compares with it)');
  }
  if (opts.remote !== 'off') wanted.push(['rclone', 'rclone'], ['openssh-server', '/usr/sbin/sshd']);
  for (const [pkg, bin] of wanted) {
    const present = () => (bin.startsWith('/') ? fs.existsSync(bin) : have(bin));
    if (!present() && opts.install && process.getuid?.() === 0 && have('apt-get')) {
      log(`installing ${pkg} with apt-get ...`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      let r = spawnSync('apt-get', ['install', '-y', '-q', pkg], { env, stdio: 'inherit' });
      if (r.status !== 0) {
        spawnSync('apt-get', ['update', '-q'], { env, stdio: 'inherit' });
        r = spawnSync('apt-get', ['install', '-y', '-q', pkg], { env, stdio: 'inherit' });
      }
    }
    found[pkg] = present();
    if (!found[pkg]) {
      const why = opts.smoke ? 'smoke mode installs nothing' : !opts.install ? '--no-install' : 'could not install it (needs root and apt-get)';
      note(pkg === 'time'
        ? `${TIME_BIN} missing (${why}): times are measured, peak RSS is not`
        : `${pkg} not installed (${why}): its comparisons are skipped`);
    }
  }
  state.timeAvailable = !!found.time;
  return found;
}

/** "<sha256> files=N dirs=N bytes=N" of a tree (make-dataset.mjs manifest). */
function manifestOf(dir) {
  const out = must(process.execPath, [GEN, 'manifest', dir]).stdout.trim();
  return out.replace(/\s+\S+$/, '').replace(/\s+/g, ' ');
}

/** Generates a dataset into <dir>.tmp-<pid> and renames it into place; checks its manifest when fresh. */
function ensureDataset(dir, genArgs, expected) {
  if (fs.existsSync(dir)) return { dir, fresh: false };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmrf(tmp);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  log(`generating ${dir} ...`);
  const t0 = Date.now();
  try {
    must(process.execPath, [GEN, ...genArgs.slice(0, 1), tmp, ...genArgs.slice(1)]);
    fs.renameSync(tmp, dir);
  } finally {
    rmrf(tmp);
  }
  const got = manifestOf(dir);
  log(`  generated in ${fmtS((Date.now() - t0) / 1000)}: ${got}`);
  if (typeof expected === 'string' ? got !== expected : !expected.test(got)) {
    throw new Error(`dataset ${dir} does not match its expected manifest\n  got      ${got}\n  expected ${expected}\n(remove it and rerun)`);
  }
  return { dir, fresh: true };
}

function ensureDatasets(opts) {
  if (opts.smoke) {
    return { small: ensureDataset(path.join(CACHE, 'smoke-data', 'small'), ['small', '--seed', '1', ...SMOKE_DATASET], / files=2000 dirs=124 /).dir };
  }
  const data = { small: ensureDataset(path.join(CACHE, 'data', 'small'), ['small', '--seed', '1'], EXPECTED.small).dir };
  if (!opts.skipLarge && !opts.scaleOnly) data.large = ensureDataset(path.join(CACHE, 'data', 'large'), ['large', '--seed', '1'], EXPECTED.large).dir;
  return data;
}

function backupFile(json, name) {
  return path.join(json.destination, json.set, json.backupId, name);
}

// ---------- measurements ----------
/** a + g: full folder backup vs cp -a; peak RSS and manifest size of ours. */
async function measureFullFolder(ctx, label, src, runs, target, withRss) {
  const dest = path.join(ctx.work, 'full-dest');
  const copy = path.join(ctx.work, 'full-cp');
  let first = null;
  const s = await interleave(`full folder (${label})`, runs, [
    {
      key: 'ours', label: 'n8n-backup --type full --format folder',
      run: () => {
        const r = ours(['backup', src, '--dest', dest, '--type', 'full', '--format', 'folder', '--set', `bench-${label}`]);
        first ??= { manifestBytes: fs.statSync(backupFile(r.json[0], 'manifest.jsonl.gz')).size, entries: r.json[0].files.scanned };
        return r;
      },
      after: () => rmrf(dest),
    },
    { key: 'cp', label: 'cp -a', run: () => peer('cp', ['-a', src, copy]), after: () => rmrf(copy) },
  ]);
  addTimeRow(`fullFolder-${label}`, `full folder backup vs cp -a (${label})`, 'n8n-backup full folder', s.ours, 'cp -a', s.cp, target);
  if (withRss) {
    const rss = summary(s.ours).peakRssKiB;
    addRssRow(`rssFull-${label}`, `peak RSS, full folder backup (${label})`, rss, TARGET.rssFullMiB);
    state.extra.manifest = { dataset: label, entries: first.entries, manifestBytes: first.manifestBytes };
    state.rows.push({ id: `manifest-${label}`, kind: 'info', measurement: `manifest.jsonl.gz size (${label}, ${fmtInt(first.entries)} entries)`, ours: { text: `${(first.manifestBytes / MiB).toFixed(2)} MiB (${(first.manifestBytes / first.entries).toFixed(0)} B/entry)` } });
  }
}

/**
 * b (and f): full tar.gz at gzip level 6 vs tar -czf (GNU tar's gzip at its default level, 6), and
 * vs `tar -cf - | pigz -6`: our writer compresses on two cores, single-threaded gzip is not its
 * fair peer, pigz (parallel gzip, same level, on every core) is. Both peers are kept side by side.
 */
async function measureFullTarGz(ctx, label, src, runs, target) {
  const dest = path.join(ctx.work, 'tgz-dest');
  const tgz = path.join(ctx.work, 'tgz-peer.tgz');
  const sizes = {};
  const s = await interleave(`full tar.gz (${label})`, runs, [
    {
      key: 'ours', label: 'n8n-backup --format tar.gz -l 6',
      run: () => {
        const r = ours(['backup', src, '--dest', dest, '--type', 'full', '--format', 'tar.gz', '--compression-level', '6', '--set', `bench-${label}`]);
        sizes.ours = fs.statSync(backupFile(r.json[0], 'data.tar.gz')).size;
        return r;
      },
      after: () => rmrf(dest),
    },
    {
      key: 'encrypted', label: 'n8n-backup tar.gz -l 6, encrypted',
      run: () => {
        const r = ours(['backup', src, '--dest', dest, '--type', 'full', '--format', 'tar.gz', '--compression-level', '6', '--set', `bench-${label}-enc`], { N8N_BACKUP_PASSPHRASE: 'bench passphrase' });
        sizes.encrypted = fs.statSync(backupFile(r.json[0], 'data.tar.gz.enc')).size;
        return r;
      },
      after: () => rmrf(dest),
    },
    {
      key: 'tar', label: 'tar -czf (gzip -6)',
      run: () => {
        const r = peer('tar', ['-czf', tgz, '-C', path.dirname(src), path.basename(src)]);
        sizes.tar = fs.statSync(tgz).size;
        return r;
      },
      after: () => rmrf(tgz),
    },
    {
      key: 'pigz', label: `tar -cf - | pigz -6 (${os.availableParallelism()} threads)`, skip: !ctx.peers.pigz,
      run: () => {
        // pipefail: a tar that fails must fail the run, not hide behind pigz's exit status.
        const r = peer('bash', ['-o', 'pipefail', '-c', 'tar -cf - -C "$1" "$2" | pigz -6 > "$3"', 'bench', path.dirname(src), path.basename(src), tgz]);
        sizes.pigz = fs.statSync(tgz).size;
        return r;
      },
      after: () => rmrf(tgz),
    },
  ]);
  // No target: single-threaded gzip is not the fair peer of a two-core compressor.
  addTimeRow(`fullTarGz-${label}`, `full tar.gz vs tar -czf, gzip level 6 both (${label})`, 'n8n-backup tar.gz', s.ours, 'tar -czf', s.tar);
  // The fair peer (parallel gzip on every core): the target is judged here.
  addTimeRow(`fullTarGzPigz-${label}`, `full tar.gz vs tar | pigz -6, both multi-core (${label})`, 'n8n-backup tar.gz', s.ours, 'tar | pigz -6', s.pigz, target, 'pigz not installed (apt-get install pigz)');
  // No target: what encryption costs (scrypt once, AES-256-GCM over the compressed stream).
  addTimeRow(`fullTarGzEncrypted-${label}`, `full tar.gz encrypted vs tar -czf (${label})`, 'n8n-backup tar.gz encrypted', s.encrypted, 'tar -czf', s.tar);
  state.extra[`tarGzBytes-${label}`] = sizes;
}

/** d (setup): W = cp -a of small; ours full of W; rsync mirror; restic init + first backup (timed once each). */
async function setupIncremental(ctx) {
  const inc = {
    W: path.join(ctx.work, 'w', 'small'), D: path.join(ctx.work, 'inc-dest'), M: path.join(ctx.work, 'mirror'), set: 'bench-w',
    restic: ctx.peers.restic ? { RESTIC_REPOSITORY: path.join(ctx.work, 'restic-repo'), RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: path.join(ctx.work, 'restic-cache') } : null,
    rsync: ctx.peers.rsync,
  };
  log('incremental setup: cp -a small -> W, ours full of W, rsync mirror, restic init + first backup');
  fs.mkdirSync(path.dirname(inc.W), { recursive: true });
  must('cp', ['-a', ctx.data.small, inc.W]);
  const tools = [{ key: 'ours', label: 'n8n-backup --type full (W)', run: () => ours(['backup', inc.W, '--dest', inc.D, '--type', 'full', '--format', 'folder', '--set', inc.set]) }];
  if (inc.restic) {
    must('restic', ['init', '-q'], inc.restic);
    tools.push({ key: 'restic', label: 'restic backup (first)', run: () => peer('restic', ['backup', '-q', '--host', 'bench', inc.W], inc.restic) });
  }
  if (inc.rsync) must('rsync', ['-a', `${inc.W}/`, `${inc.M}/`]);
  const s = await interleave('full (1 run)', 1, tools);
  if (inc.restic && s.restic.length === 0) inc.restic = null;
  addTimeRow('full-vs-restic', 'full backup vs restic backup, first (1 run)', 'n8n-backup full folder', s.ours, 'restic', s.restic, null, 'restic skipped, see notes');
  return inc;
}

/** c: no-change incremental (writes a manifest) and auto (writes nothing) vs rsync -a and restic. */
async function measureNoChange(ctx, inc) {
  const backup = (type) => ours(['backup', inc.W, '--dest', inc.D, '--type', type, '--format', 'folder', '--set', inc.set]);
  const tools = [
    {
      key: 'incr', label: 'n8n-backup --type incremental',
      run: () => {
        const r = backup('incremental');
        const f = r.json[0].files;
        if (r.json[0].type !== 'incremental' || f.added + f.changed + f.deleted) note(`no-change incremental made ${r.json[0].type}: ${r.json[0].summary}`);
        return r;
      },
    },
    {
      key: 'auto', label: 'n8n-backup --type auto',
      run: () => {
        const r = backup('auto');
        if (!r.json[0].skipped) note(`no-change auto did not skip: ${r.json[0].summary}`);
        state.extra.smallNoChange = { rssKiB: Math.max(state.extra.smallNoChange?.rssKiB ?? 0, r.rssKiB ?? 0) || null, entries: r.json[0].files?.scanned ?? null };
        return r;
      },
    },
  ];
  if (inc.rsync) tools.push({ key: 'rsync', label: 'rsync -a W/ M/', run: () => peer('rsync', ['-a', `${inc.W}/`, `${inc.M}/`]) });
  if (inc.restic) tools.push({ key: 'restic', label: 'restic backup', run: () => peer('restic', ['backup', '-q', '--host', 'bench', inc.W], inc.restic) });
  const s = await interleave('no-change', ctx.opts.runs, tools);
  addTimeRow('noChange-incremental', 'no-change incremental vs rsync -a', 'n8n-backup --type incremental', s.incr, 'rsync -a', s.rsync, null, 'rsync skipped, see notes');
  addTimeRow('noChange-auto', 'no-change auto (nothing written) vs rsync -a', 'n8n-backup --type auto', s.auto, 'rsync -a', s.rsync, TARGET.noChangeAuto, 'rsync skipped, see notes');
  addTimeRow('noChange-restic', 'no-change incremental vs restic backup', 'n8n-backup --type incremental', s.incr, 'restic', s.restic, null, 'restic skipped, see notes');
}

/** d: per run, mutate W (fresh seed, cumulative), then incremental vs rsync --delete vs restic (rotating order). */
async function measureMutated(ctx, inc) {
  const tools = [
    {
      key: 'ours', label: 'n8n-backup --type incremental',
      run: () => {
        const r = ours(['backup', inc.W, '--dest', inc.D, '--type', 'incremental', '--format', 'folder', '--set', inc.set]);
        const f = r.json[0].files;
        if (!(f.added && f.changed && f.deleted)) note(`mutated incremental saw added ${f.added}, changed ${f.changed}, deleted ${f.deleted}`);
        return r;
      },
    },
  ];
  if (inc.rsync) tools.push({ key: 'rsync', label: 'rsync -a --delete W/ M/', run: () => peer('rsync', ['-a', '--delete', `${inc.W}/`, `${inc.M}/`]) });
  if (inc.restic) tools.push({ key: 'restic', label: 'restic backup', run: () => peer('restic', ['backup', '-q', '--host', 'bench', inc.W], inc.restic) });
  const s = await interleave('mutated', ctx.opts.runs, tools, {
    rotate: true,
    beforeRound: (i) => {
      const r = must(process.execPath, [GEN, 'mutate-small', inc.W, '--seed', String(i + 2)]);
      log(`  ${r.stderr.trim()}`);
    },
  });
  addTimeRow('mutated-rsync', 'mutated incremental vs rsync -a --delete', 'n8n-backup --type incremental', s.ours, 'rsync -a --delete', s.rsync, TARGET.mutated, 'rsync skipped, see notes');
  addTimeRow('mutated-restic', 'mutated incremental vs restic backup', 'n8n-backup --type incremental', s.ours, 'restic', s.restic, null, 'restic skipped, see notes');
}

/** e: restore of the latest incremental vs cp -a W; the first restore is checked against W. */
async function measureRestore(ctx, inc) {
  const target = path.join(ctx.work, 'restore-ours');
  const copy = path.join(ctx.work, 'restore-cp');
  const s = await interleave('restore', ctx.opts.runs, [
    {
      key: 'ours', label: 'n8n-backup restore --backup latest',
      run: () => ours(['restore', '--dest', inc.D, '--set', inc.set, '--backup', 'latest', '--target', target]),
      after: (i) => {
        if (i === 0 && fs.existsSync(target)) checkRestore(inc.W, target);
        rmrf(target);
      },
    },
    { key: 'cp', label: 'cp -a', run: () => peer('cp', ['-a', inc.W, copy]), after: () => rmrf(copy) },
  ]);
  addTimeRow('restore', 'restore latest incremental vs cp -a', 'n8n-backup restore', s.ours, 'cp -a', s.cp, TARGET.restore);
}

function checkRestore(source, restored) {
  const want = manifestOf(source);
  const got = manifestOf(restored);
  if (want !== got) {
    state.failures.push(`restore differs from its source: ${got} (restored) vs ${want} (source)`);
    log(`FAIL: restored tree differs from the source\n  source   ${want}\n  restored ${got}`);
  } else {
    log(`  restore check: restored tree equals the source (${want.split(' ').slice(1).join(' ')})`);
    state.extra.restoreCheck = { ok: true, manifest: want };
  }
}

/** c, d, e share one work tree and backup chain. */
async function measureIncremental(ctx) {
  const inc = await setupIncremental(ctx);
  try {
    await measureNoChange(ctx, inc);
    await measureMutated(ctx, inc);
    await measureRestore(ctx, inc);
  } finally {
    for (const p of [path.dirname(inc.W), inc.D, inc.M, inc.restic?.RESTIC_REPOSITORY, inc.restic?.RESTIC_CACHE_DIR]) if (p) rmrf(p);
  }
}

/** Builds a tree of exactly n entries (folders of empty files) at dir: run as `node bench/run.js build-tree DIR N`. */
function buildTree(dir, n) {
  const folders = Math.max(1, Math.round(Math.sqrt(n)));
  const perFolder = Math.floor(n / folders) - 1;
  const extra = n - folders * (perFolder + 1);
  fs.mkdirSync(dir, { recursive: true });
  for (let d = 0; d < folders; d++) {
    const sub = path.join(dir, `d${String(d).padStart(4, '0')}`);
    fs.mkdirSync(sub);
    const files = perFolder + (d === folders - 1 ? extra : 0);
    for (let f = 0; f < files; f++) fs.closeSync(fs.openSync(path.join(sub, `f${f}`), 'w'));
  }
}

function ensureScaleTree(n) {
  const dir = path.join(CACHE, n === 1_000_000 ? 'million' : `scale-${n}`);
  if (fs.existsSync(dir)) return { dir, buildSeconds: null };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmrf(tmp);
  log(`building the ${fmtInt(n)}-entry tree ${dir} ...`);
  const t0 = process.hrtime.bigint();
  try {
    must(process.execPath, [__filename, 'build-tree', tmp, String(n)]);
    fs.renameSync(tmp, dir);
  } finally {
    rmrf(tmp);
  }
  const buildSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  log(`  built in ${fmtS(buildSeconds)}`);
  return { dir, buildSeconds };
}

/** h: full tar.gz of an n-entry tree (n-entry manifest), then a no-change auto (scan + compare, nothing written). */
async function measureScale(ctx) {
  const n = ctx.opts.scaleEntries;
  const { dir, buildSeconds } = ensureScaleTree(n);
  if (buildSeconds != null && buildSeconds < 3) await new Promise((r) => setTimeout(r, (3 - buildSeconds) * 1000)); // mtimes out of the 2 s re-hash window
  const dest = path.join(ctx.work, 'scale-dest');
  const backup = (type) => ours(['backup', dir, '--dest', dest, '--type', type, '--format', 'tar.gz', '--set', 'bench-scale']);
  try {
    const s = await interleave('scale', 1, [
      { key: 'full', label: `n8n-backup full tar.gz, ${fmtInt(n)} entries`, run: () => backup('full') },
      { key: 'auto', label: 'n8n-backup --type auto (no change)', run: () => backup('auto') },
    ]);
    const full = s.full[0].json[0];
    const auto = s.auto[0].json[0];
    if (!auto.skipped) note(`scale: no-change auto did not skip: ${auto.summary}`);
    const manifestBytes = fs.statSync(backupFile(full, 'manifest.jsonl.gz')).size;
    const entries = full.files.scanned;
    if (!state.extra.smallNoChange) state.extra.smallNoChange = await smallNoChangeRss(ctx);
    const small = state.extra.smallNoChange;
    state.extra.scale = {
      entries, treeBuildSeconds: buildSeconds, manifestBytes,
      full: { seconds: s.full[0].seconds, rssKiB: s.full[0].rssKiB },
      noChangeAuto: { seconds: s.auto[0].seconds, rssKiB: s.auto[0].rssKiB, skipped: auto.skipped },
      smallNoChangeAuto: small,
      entriesRatio: small?.entries ? entries / small.entries : null,
      rssRatio: small?.rssKiB && s.auto[0].rssKiB ? s.auto[0].rssKiB / small.rssKiB : null,
    };
    state.rows.push({ id: 'scale-full', kind: 'info', measurement: `scale: full tar.gz backup, ${fmtInt(entries)} entries`, ours: { text: `${fmtS(s.full[0].seconds)}, ${fmtMiB(s.full[0].rssKiB)}, manifest ${(manifestBytes / MiB).toFixed(1)} MiB` } });
    addRssRow('rss-scale', `peak RSS, no-change scan+compare, ${fmtInt(entries)} entries (${fmtS(s.auto[0].seconds)})`, s.auto[0].rssKiB, TARGET.rssScaleMiB, { seconds: s.auto[0].seconds, entries });
    if (small) addRssRow('rss-small-nochange', `peak RSS, no-change scan+compare, ${fmtInt(small.entries)} entries (small)`, small.rssKiB, null, small);
    const x = state.extra.scale;
    if (x.entriesRatio && x.rssRatio) log(`scale: ${x.entriesRatio.toFixed(1)}x the entries -> ${x.rssRatio.toFixed(2)}x the peak RSS`);
  } finally {
    rmrf(dest);
  }
}

/** For --scale alone: the small dataset's no-change auto RSS, for the entries/RSS comparison. */
async function smallNoChangeRss(ctx) {
  const dest = path.join(ctx.work, 'small-nochange-dest');
  const backup = (type) => ours(['backup', ctx.data.small, '--dest', dest, '--type', type, '--format', 'folder', '--set', 'bench-small']);
  try {
    backup('full');
    await checkpoint();
    syncDisks();
    const r = backup('auto');
    log(`  no-change auto (small): ${fmtS(r.seconds)}, ${fmtMiB(r.rssKiB)}`);
    return { rssKiB: r.rssKiB, entries: r.json[0].files?.scanned ?? null };
  } finally {
    rmrf(dest);
  }
}

// ---------- report ----------
function machineInfo(work) {
  const cpus = os.cpus();
  const text = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : null;
  };
  const df = text('df', ['-T', work])?.split('\n')[1]?.split(/\s+/);
  const osRelease = fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)/m)?.[1] : null;
  const firstLine = (cmd, args) => text(cmd, args)?.split('\n')[0] ?? null;
  return {
    cpuModel: cpus[0]?.model ?? null, cpuCount: cpus.length, totalMemoryMiB: Math.round(os.totalmem() / MiB),
    os: osRelease, kernel: os.release(), node: process.version,
    filesystem: df ? { type: df[1], device: df[0] } : null,
    commit: text('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    uncommittedEngineChanges: spawnSync('git', ['-C', ROOT, 'diff', '--quiet', 'HEAD', '--', 'nodes', 'cli'], { stdio: 'ignore' }).status === 1,
    tools: {
      cp: firstLine('cp', ['--version']), tar: firstLine('tar', ['--version']), gzip: firstLine('gzip', ['--version']),
      rsync: have('rsync') ? firstLine('rsync', ['--version']) : null, restic: have('restic') ? firstLine('restic', ['version']) : null,
      pigz: have('pigz') ? firstLine('pigz', ['--version']) : null, rclone: have('rclone') ? firstLine('rclone', ['version']) : null,
    },
  };
}

function tableRows() {
  const yes = (m) => (m == null ? '-' : m ? 'yes' : 'NO');
  const span = (q) => (q ? `${fmtRatio(q.median)} (${fmtRatio(q.min)}-${fmtRatio(q.max)})` : '-');
  return state.rows.map((r) => {
    if (r.kind === 'time') {
      return [
        r.measurement,
        r.ours ? `${fmtS(r.ours.median)} (${fmtS(r.ours.min)})` : '-',
        r.peer ? `${fmtS(r.peer.median)} (${fmtS(r.peer.min)})` : `(${r.note})`,
        span(r.paired), r.pairedNoSync ? fmtRatio(r.pairedNoSync.median) : '-', r.target ? `<= ${r.target.ratio}x` : '-', yes(r.met),
      ];
    }
    if (r.kind === 'rss') return [r.measurement, fmtMiB(r.ours.peakRssKiB), '-', '-', '-', r.target ? `<= ${r.target.rssMiB} MiB` : '-', yes(r.met)];
    return [r.measurement, r.ours.text, '-', '-', '-', '-', '-'];
  });
}

const HEAD = ['measurement', 'ours median (min)', 'peer median (min)', 'paired ratio median (min-max)', 'ratio w/o final sync', 'target', 'met?'];

function textTable(rows) {
  const all = [HEAD, ...rows];
  const w = HEAD.map((_, c) => Math.max(...all.map((r) => String(r[c]).length)));
  const line = (r) => r.map((v, c) => (c === 0 ? String(v).padEnd(w[c]) : String(v).padStart(w[c]))).join(' | ');
  return [line(HEAD), w.map((n) => '-'.repeat(n)).join('-|-'), ...rows.map(line)].join('\n');
}

function machineLine(m, opts) {
  return `${m.cpuModel} x ${m.cpuCount}, ${(m.totalMemoryMiB / 1024).toFixed(1)} GiB RAM, ${m.os ?? 'Linux'} (kernel ${m.kernel}), `
    + `${m.filesystem ? `${m.filesystem.type} on ${m.filesystem.device}` : 'unknown fs'}, Node ${m.node}, commit ${m.commit}${m.uncommittedEngineChanges ? ' + uncommitted engine changes' : ''}; `
    + `${opts.runs} interleaved run(s) per tool${opts.skipLarge ? '' : `, ${opts.largeRuns} on the large dataset`}`;
}

function markdown(result) {
  const esc = (v) => String(v).replace(/\|/g, '\\|');
  const rows = tableRows().map((r) => `| ${r.map(esc).join(' | ')} |`);
  const out = [
    `Benchmark (\`npm run bench${result.mode === 'full' ? '' : ` -- --${result.mode}`}\`), ${result.finishedAt.slice(0, 10)}: ${machineLine(result.machine, result.options)}.`,
    'Times are wall clock up to and including a `sync` after each writing command, median (min) of the runs; ratio = ours / peer of the same round, median of the rounds with min-max; "ratio w/o final sync" leaves the writeback out (what durability costs us beside peers that leave data in the page cache); "met?" is judged on the paired median.',
    '',
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows,
  ];
  const sc = result.extra.scale;
  if (sc?.entriesRatio && sc.rssRatio) out.push('', `Scale: ${sc.entriesRatio.toFixed(1)}x the entries of the small dataset took ${sc.rssRatio.toFixed(2)}x its peak RSS for a no-change scan+compare.`);
  if (result.notes.length) out.push('', ...result.notes.map((n) => `- note: ${n}`));
  if (result.failures.length) out.push('', ...result.failures.map((f) => `- FAILED: ${f}`));
  return out.join('\n') + '\n';
}

function writeResults(result) {
  fs.mkdirSync(RESULTS, { recursive: true });
  const prefix = result.mode === 'full' ? '' : `${result.mode}-`;
  const stamp = result.startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const json = JSON.stringify(result, null, 2) + '\n';
  fs.writeFileSync(path.join(RESULTS, `${prefix}latest.json`), json);
  fs.writeFileSync(path.join(RESULTS, `${prefix}${stamp}.json`), json);
  fs.writeFileSync(path.join(RESULTS, `${prefix}latest.md`), markdown(result));
  return [`${prefix}latest.json`, `${prefix}${stamp}.json`, `${prefix}latest.md`].map((f) => path.relative(ROOT, path.join(RESULTS, f)));
}

// ---------- main ----------
async function step(name, fn) {
  const t0 = Date.now();
  await checkpoint();
  log(`\n== ${name}`);
  try {
    await fn();
  } catch (e) {
    await new Promise((resolve) => setImmediate(resolve)); // a Ctrl-C that made this fail is handled first
    if (e instanceof Interrupted || state.interrupted) throw new Interrupted('interrupted');
    state.failures.push(`${name}: ${e.message}`);
    log(`FAILED: ${name}: ${e.message}`);
  }
  log(`   (${name}: ${fmtS((Date.now() - t0) / 1000)})`);
}

async function main() {
  if (process.argv[2] === 'build-tree') return buildTree(process.argv[3], Number(process.argv[4]));
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) usage();
  if (!fs.existsSync(CLI)) {
    process.stderr.write(`bench: ${path.relative(ROOT, CLI)} missing: run npm run build (or npm run bench)\n`);
    process.exit(2);
  }
  // Smoke commands take about a second each; full-bench ones up to a few minutes.
  state.commandLimitS = opts.smoke ? 300 : 3600;
  const mode = opts.smoke ? 'smoke' : opts.scaleOnly ? 'scale' : opts.remote === 'only' ? 'remote' : 'full';
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  let work = null;
  let signals = 0;
  const onSignal = (sig) => {
    if (++signals > 1) process.exit(130); // second Ctrl-C: leave now
    state.interrupted = true;
    process.stderr.write(`\nbench: ${sig}: stopping after the current command and cleaning up (again to quit now)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    work = workDir();
    log(`bench (${mode}): runs=${opts.runs}, work folder ${path.relative(ROOT, work)}`);
    const peers = ensurePeers(opts);
    const data = ensureDatasets(opts);
    const ctx = { opts, work, peers, data };
    if (!opts.scaleOnly && opts.remote !== 'only') {
      await step('full folder backup vs cp -a (small)', () => measureFullFolder(ctx, opts.smoke ? 'smoke' : 'small', data.small, opts.runs, TARGET.fullFolderSmall, true));
      await step('full tar.gz vs tar -czf (small)', () => measureFullTarGz(ctx, opts.smoke ? 'smoke' : 'small', data.small, opts.runs, TARGET.tarGzPigz));
      await step('incremental: full, no-change, mutated, restore (small)', () => measureIncremental(ctx));
      if (!opts.skipLarge) {
        await step('large: full folder vs cp -a', () => measureFullFolder(ctx, 'large', data.large, opts.largeRuns, TARGET.fullFolderLarge, false));
        await step('large: full tar.gz vs tar -czf', () => measureFullTarGz(ctx, 'large', data.large, opts.largeRuns, null));
      }
    }
    if (opts.remote !== 'off') await measureRemote(ctx, { ours, peer, must, interleave, addTimeRow, note, log, rmrf, have, checkRestore, checkpoint, step });
    if (!opts.skipScale) await step(`scale check (${fmtInt(opts.scaleEntries)} entries)`, () => measureScale(ctx));
    await checkpoint();
  } catch (e) {
    if (work) rmrf(work);
    if (e instanceof Interrupted) {
      process.stderr.write('bench: interrupted; work folder removed, cached datasets kept\n');
      process.exit(130);
    }
    throw e;
  }
  rmrf(work);
  const result = {
    mode, startedAt, finishedAt: new Date().toISOString(), durationSeconds: Math.round((Date.now() - t0) / 100) / 10,
    options: opts, machine: machineInfo(path.dirname(work)), targets: TARGET, rows: state.rows, extra: state.extra, notes: state.notes, failures: state.failures,
  };
  log(`\n== results (${mode}, ${fmtS(result.durationSeconds)}): ${machineLine(result.machine, opts)}`);
  log('times: wall clock incl. a sync after writing commands, median (min); ratio = ours / peer paired by round, median (min-max); met? judged on the paired median\n');
  log(textTable(tableRows()));
  const sc = state.extra.scale;
  if (sc?.entriesRatio && sc.rssRatio) log(`\nscale: ${sc.entriesRatio.toFixed(1)}x the entries -> ${sc.rssRatio.toFixed(2)}x the peak RSS (no-change scan+compare)`);
  for (const n of state.notes) log(`note: ${n}`);
  for (const f of state.failures) log(`FAILED: ${f}`);
  log(`\nwritten: ${writeResults(result).join(', ')}`);
  process.exitCode = state.failures.length ? 1 : 0;
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack || e.message}\n`);
  process.exit(1);
});
