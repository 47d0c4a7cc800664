/**
 * Issue 12, item 3, seen from outside: the real CLI under strace (its copy threads and the `sync
 * -f` it runs included, -f). Before the rename of .partial-<id> to <id>: folder format, a syncfs
 * after the last data file was closed (or, with no `sync` command, an fsync of every data file and
 * folder); tar.gz, data.tar.gz, manifest and backup.json fsynced. Without strace (or ptrace) here
 * the tests say SKIPPED in jest's counts; .ci/run installs strace. Runs the built binary.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertCliBuilt, CLI_BIN, makeTempDir, removeTempDir, writeFile } from '../helpers/cli';

// Found once, by absolute path: one test runs the CLI with a PATH that has no `sync` (nor strace).
const STRACE = spawnSync('sh', ['-c', 'command -v strace'], { encoding: 'utf8' }).stdout.trim() || 'strace';

/** Why strace cannot trace here, or undefined when it can. */
function straceUnusable(): string | undefined {
  const r = spawnSync(STRACE, ['-f', '-qq', '-o', '/dev/null', 'true'], { encoding: 'utf8' });
  if (r.error !== undefined) return 'strace is not installed';
  if (r.status !== 0) return `strace cannot trace here (${r.stderr.trim().split('\n')[0]})`;
  return undefined;
}
const cannot = straceUnusable();

interface Trace {
  /** Paths fsynced (through the descriptor an openat gave for them), in order, with the event index. */
  synced: Map<string, number>;
  /** Paths opened for writing with O_CREAT. */
  created: string[];
  /** Event index of the last close of each path's descriptor. */
  closed: Map<string, number>;
  /** Event indexes of successful syncfs calls. */
  syncfs: number[];
  /** Event index of each rename, by source path. */
  renamed: Map<string, number>;
}

/** Reads an `strace -f` log: joins `<unfinished ...>` with `<... resumed>`, follows descriptors. */
function parseTrace(log: string): Trace {
  const pending = new Map<string, string>();
  const fds = new Map<number, string>();
  const trace: Trace = { synced: new Map(), created: [], closed: new Map(), syncfs: [], renamed: new Map() };
  let index = 0;
  for (const raw of log.split('\n')) {
    const m = /^(\d+)\s+(.*)$/.exec(raw);
    if (m === null) continue;
    const [, pid, rest] = m;
    let call = rest;
    if (call.endsWith('<unfinished ...>')) {
      pending.set(pid, call.slice(0, -'<unfinished ...>'.length).trimEnd());
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(call);
    if (resumed !== null) call = (pending.get(pid) ?? '') + resumed[1];
    index++;
    const open = /^openat\(AT_FDCWD, "([^"]+)", ([A-Z_|]+).*\)\s+= (\d+)$/.exec(call);
    if (open !== null) {
      fds.set(Number(open[3]), open[1]);
      if (open[2].includes('O_CREAT')) trace.created.push(open[1]);
      continue;
    }
    const sync = /^f(?:data)?sync\((\d+)\)\s+= 0$/.exec(call);
    if (sync !== null) {
      const file = fds.get(Number(sync[1]));
      if (file !== undefined && !trace.synced.has(file)) trace.synced.set(file, index);
      continue;
    }
    const close = /^close\((\d+)\)\s+= 0$/.exec(call);
    if (close !== null) {
      const file = fds.get(Number(close[1]));
      if (file !== undefined) trace.closed.set(file, index);
      // The number may come back from a call not traced here (pipe2 for the `sync` child, say): forget it.
      fds.delete(Number(close[1]));
      continue;
    }
    if (/^syncfs\(\d+\)\s+= 0$/.test(call)) {
      trace.syncfs.push(index);
      continue;
    }
    const rename = /^rename(?:at2?)?\((?:AT_FDCWD, )?"([^"]+)", (?:AT_FDCWD, )?"([^"]+)".*\)\s+= 0$/.exec(call);
    if (rename !== null) trace.renamed.set(rename[1], index);
  }
  return trace;
}

function tracedBackup(tmp: string, format: string, env: NodeJS.ProcessEnv = process.env): { trace: Trace; partial: string } {
  const src = path.join(tmp, 'src');
  for (let i = 0; i < 30; i++) writeFile(src, `d${i % 3}/sub/f${i}.txt`, `file ${i}\n`.repeat(i * 50));
  writeFile(src, 'top.txt', 'top\n');
  const dest = path.join(tmp, 'dest');
  const log = path.join(tmp, 'strace.log');
  const r = spawnSync(STRACE, ['-f', '-qq', '-s', '4096', '-e', 'trace=openat,close,fsync,fdatasync,syncfs,rename,renameat,renameat2', '-o', log,
    process.execPath, CLI_BIN, 'backup', src, '--dest', dest, '--type', 'full', '--format', format, '--set', 's', '--json'], { encoding: 'utf8', timeout: 60000, env });
  expect(r.status).toBe(0);
  const [item] = JSON.parse(r.stdout) as { backupId: string }[];
  return { trace: parseTrace(fs.readFileSync(log, 'utf8')), partial: path.join(dest, 's', `.partial-${item.backupId}`) };
}

const suite = cannot === undefined ? describe : describe.skip;
suite(`the commit is durable (strace)${cannot === undefined ? '' : ` - SKIPPED: ${cannot}`}`, () => {
  let tmp: string;
  beforeAll(() => assertCliBuilt());
  beforeEach(() => {
    tmp = makeTempDir('durable');
  });
  afterEach(() => removeTempDir(tmp));

  test('folder: one syncfs after the last data file was closed, before the rename', () => {
    const { trace, partial } = tracedBackup(tmp, 'folder');
    const commit = trace.renamed.get(partial) as number;
    expect(commit).toBeDefined();
    const dataFiles = trace.created.filter((p) => p.startsWith(`${partial}/data/`));
    expect(dataFiles).toHaveLength(31);
    const lastClose = Math.max(...dataFiles.map((p) => trace.closed.get(p) ?? Infinity));
    expect(trace.syncfs.filter((i) => i > lastClose && i < commit)).toHaveLength(1);
    expect((trace.synced.get(partial) ?? Infinity) < commit).toBe(true);
  });

  test('folder, no `sync` command on PATH: every data file and every folder is fsynced before the rename', () => {
    const { trace, partial } = tracedBackup(tmp, 'folder', { ...process.env, PATH: path.join(tmp, 'no-such-dir') });
    const commit = trace.renamed.get(partial);
    expect(commit).toBeDefined();
    expect(trace.syncfs).toEqual([]);
    const dataFiles = trace.created.filter((p) => p.startsWith(`${partial}/data/`));
    expect(dataFiles).toHaveLength(31);
    const late = (p: string): boolean => !((trace.synced.get(p) ?? Infinity) < (commit as number));
    expect(dataFiles.filter(late)).toEqual([]);
    const folders = [partial, `${partial}/data`, ...[0, 1, 2].flatMap((i) => [`${partial}/data/d${i}`, `${partial}/data/d${i}/sub`])];
    expect(folders.filter(late)).toEqual([]);
  });

  test('tar.gz: data.tar.gz, the manifest, backup.json and the folder are fsynced before the rename', () => {
    const { trace, partial } = tracedBackup(tmp, 'tar.gz');
    const commit = trace.renamed.get(partial) as number;
    expect(commit).toBeDefined();
    for (const p of [`${partial}/data.tar.gz`, `${partial}/manifest.jsonl.gz`, `${partial}/backup.json`, partial]) {
      expect({ p, before: (trace.synced.get(p) ?? Infinity) < commit }).toEqual({ p, before: true });
    }
  });
});
