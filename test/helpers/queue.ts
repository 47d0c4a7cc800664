/**
 * n8n in queue mode, for real (../shared/TEST-SERVERS.md): a Redis on loopback, one n8n main and
 * N workers (`n8n worker`) sharing one user folder (one SQLite database, one encryption key, this
 * package installed as a community node). Executions are triggered through the main's production
 * webhooks, so they run on the workers; the main's REST API (as the owner) lists and stops them.
 * Every process is started here and stopped by its PID.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { N8nCredential } from './n8n';
import { installPackage, N8N_BIN, n8nBaseEnv } from './n8n';
import { freePort } from './servers';

type Json = Record<string, unknown>;

export interface QueueTiming {
  /** QUEUE_WORKER_LOCK_DURATION (ms): how long a worker's claim on a job lasts unless renewed. */
  lockDurationMs: number;
  /** QUEUE_WORKER_LOCK_RENEW_TIME (ms). */
  lockRenewMs: number;
  /** QUEUE_WORKER_STALLED_INTERVAL (ms): how often the queue looks for jobs whose claim lapsed. */
  stalledIntervalMs: number;
}

export interface QueueCluster {
  baseUrl: string;
  workerLogs: () => string[];
  /** POSTs to a production webhook and returns the JSON it answers (the last node's items). */
  callWebhook: (webhookPath: string) => Promise<unknown>;
  /** Executions as the main lists them (owner's REST API). */
  executions: (status?: string) => Promise<{ id: string; status: string; workflowId: string }[]>;
  stopExecution: (id: string) => Promise<Json>;
  /** Which worker (index) logged "Worker started execution <id>", once per start. */
  startsOf: (executionId: string) => number[];
  stop: () => Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it is true, up to `timeoutMs`; the error names what it waited for. */
async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(500);
  }
  throw new Error(`queue mode: ${what} did not happen within ${timeoutMs / 1000} s\n${logs().slice(-4000)}`);
}

async function answers(url: string, method = 'GET', expect = 200, headers: Record<string, string> = {}): Promise<boolean> {
  const response = await fetch(url, { method, headers });
  await response.arrayBuffer();
  return response.status === expect;
}

function n8n(env: NodeJS.ProcessEnv, args: string[]): string {
  const r = spawnSync(N8N_BIN, args, { env, encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) throw new Error(`n8n ${args.join(' ')} failed (${String(r.status ?? r.signal)}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Stops a process by its PID (SIGTERM, then SIGKILL after `graceMs`) and waits for its exit. */
async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts Redis, imports `credentials` and imports and publishes `workflows` (each with a production
 * webhook), starts the main and `workers` workers, and waits until every webhook of `webhookPaths`
 * is registered.
 */
export async function startQueueCluster(options: {
  root: string;
  allowed: string[];
  workflows: Json[];
  webhookPaths: string[];
  workers?: number;
  timing: QueueTiming;
  /** Imported with the cluster's encryption key (the workers decrypt them from the shared database). */
  credentials?: N8nCredential[];
}): Promise<QueueCluster> {
  const userFolder = path.join(options.root, 'home');
  fs.mkdirSync(userFolder, { recursive: true });
  installPackage(userFolder);
  const [redisPort, mainPort] = [await freePort(), await freePort()];
  const common: NodeJS.ProcessEnv = {
    ...n8nBaseEnv({ userFolder, allowed: options.allowed, brokerPort: await freePort() }),
    EXECUTIONS_MODE: 'queue',
    QUEUE_BULL_REDIS_HOST: '127.0.0.1',
    QUEUE_BULL_REDIS_PORT: String(redisPort),
    QUEUE_BULL_PREFIX: `bull-test-${process.pid}`,
    N8N_ENCRYPTION_KEY: `queue-test-key-${process.pid}-0123456789`,
    QUEUE_HEALTH_CHECK_ACTIVE: 'true',
    QUEUE_WORKER_LOCK_DURATION: String(options.timing.lockDurationMs),
    QUEUE_WORKER_LOCK_RENEW_TIME: String(options.timing.lockRenewMs),
    QUEUE_WORKER_STALLED_INTERVAL: String(options.timing.stalledIntervalMs),
  };
  const children: ChildProcess[] = [];
  const logs: string[] = [];
  const launch = (name: string, command: string, args: string[], env: NodeJS.ProcessEnv): number => {
    const index = logs.length;
    logs.push('');
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const append = (chunk: Buffer): void => {
      logs[index] += chunk.toString('utf8');
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    child.once('exit', (code, signal) => {
      logs[index] += `\n[${name} exited: ${String(code ?? signal)}]\n`;
    });
    children.push(child);
    return index;
  };
  const allLogs = (): string => logs.map((text, i) => `--- process ${i} ---\n${text}`).join('\n');
  const stop = async (): Promise<void> => {
    await Promise.all(children.slice(1).reverse().map((child) => stopProcess(child)));
    if (children[0] !== undefined) await stopProcess(children[0]);
  };

  try {
    // Redis first: in queue mode n8n's import and publish commands connect to it too, and give up after 10 s.
    launch('redis', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { PATH: process.env.PATH });
    await until('redis answering', 20_000, async () => (await redisPing(redisPort)) === '+PONG', allLogs);
    if (options.credentials !== undefined && options.credentials.length > 0) {
      const credentialsFile = path.join(options.root, 'credentials.json');
      fs.writeFileSync(credentialsFile, JSON.stringify(options.credentials), { mode: 0o600 });
      try {
        n8n(common, ['import:credentials', `--input=${credentialsFile}`]);
      } finally {
        fs.rmSync(credentialsFile, { force: true });
      }
    }
    const file = path.join(options.root, 'workflows.json');
    fs.writeFileSync(file, JSON.stringify(options.workflows));
    n8n(common, ['import:workflow', `--input=${file}`]);
    // Published before the main starts: it activates them (registers their webhooks) while starting.
    for (const workflow of options.workflows) n8n(common, ['publish:workflow', `--id=${String(workflow.id)}`]);
    launch('main', N8N_BIN, ['start'], { ...common, N8N_PORT: String(mainPort), N8N_RUNNERS_BROKER_PORT: String(await freePort()) });
    const healthPorts: number[] = [];
    const workerLogIndex: number[] = [];
    for (let i = 0; i < (options.workers ?? 2); i++) {
      const healthPort = await freePort();
      healthPorts.push(healthPort);
      workerLogIndex.push(
        launch(`worker ${i}`, N8N_BIN, ['worker', '--concurrency=2'], { ...common, QUEUE_HEALTH_CHECK_PORT: String(healthPort), N8N_RUNNERS_BROKER_PORT: String(await freePort()) }),
      );
    }
    const baseUrl = `http://127.0.0.1:${mainPort}`;
    await until('the main answering /healthz', 180_000, () => answers(`${baseUrl}/healthz`), allLogs);
    for (const port of healthPorts) await until(`a worker answering /healthz on ${port}`, 180_000, () => answers(`http://127.0.0.1:${port}/healthz`), allLogs);
    // The main activates published workflows some seconds after /healthz answers. A CORS preflight
    // for POST answers 204 once the webhook is registered, and an error before (without the
    // preflight headers any path answers 204).
    const preflight = { origin: 'http://127.0.0.1', 'access-control-request-method': 'POST' };
    for (const webhookPath of options.webhookPaths) {
      await until(`webhook ${webhookPath} registered`, 180_000, () => answers(`${baseUrl}/webhook/${webhookPath}`, 'OPTIONS', 204, preflight), allLogs);
    }
    // The REST API is mounted a while after /healthz answers (seconds, more on a busy machine).
    await until('the main REST API answering', 180_000, () => answers(`${baseUrl}/rest/settings`), allLogs);
    const cookie = await ownerCookie(baseUrl);
    const rest = async (route: string, method = 'GET'): Promise<Json> => {
      const response = await fetch(`${baseUrl}/rest/${route}`, { method, headers: { cookie } });
      const body = (await response.json()) as Json;
      if (!response.ok) throw new Error(`${method} /rest/${route}: ${response.status} ${JSON.stringify(body)}`);
      return body;
    };
    return {
      baseUrl,
      workerLogs: () => workerLogIndex.map((i) => logs[i]),
      callWebhook: async (webhookPath) => {
        const response = await fetch(`${baseUrl}/webhook/${webhookPath}`, { method: 'POST' });
        const text = await response.text();
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new Error(`webhook ${webhookPath} answered ${response.status}: ${text.slice(0, 500)}`);
        }
      },
      executions: async (status) => {
        const filter = encodeURIComponent(JSON.stringify(status === undefined ? {} : { status: [status] }));
        const body = await rest(`executions?filter=${filter}`);
        return ((body.data as Json).results as Json[]).map((e) => ({ id: String(e.id), status: String(e.status), workflowId: String(e.workflowId) }));
      },
      stopExecution: async (id) => rest(`executions/${id}/stop`, 'POST'),
      startsOf: (executionId) =>
        workerLogIndex.flatMap((logIndex, worker) => (logs[logIndex].match(new RegExp(`Worker started execution ${executionId} \\(`, 'g')) ?? []).map(() => worker)),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Sets up the instance owner (a fresh instance has none) and returns the session cookie. */
async function ownerCookie(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/rest/owner/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'owner@example.com', firstName: 'Queue', lastName: 'Test', password: 'Queue-test-passw0rd' }),
  });
  const text = await response.text();
  const cookie = response.headers.get('set-cookie');
  if (!response.ok || cookie === null) throw new Error(`owner setup failed: ${response.status} ${text.slice(0, 500)}`);
  return cookie.split(';')[0];
}

/** One PING over Redis's protocol (no client library needed for a readiness check). */
function redisPing(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.setTimeout(2000, () => socket.destroy(new Error('timeout')));
    socket.once('data', (data) => {
      resolve(data.toString('utf8').trim());
      socket.end();
    });
    socket.once('error', reject);
  });
}

/**
 * Webhook (POST, answers with the last node's items) -> Backup node (with `credentials`, e.g.
 * `{ s3: { id, name } }`); its error output to "Backup failed".
 */
export function webhookBackupWorkflow(id: string, webhookPath: string, parameters: Json, credentials?: Record<string, { id: string; name: string }>): Json {
  return {
    id,
    name: webhookPath,
    active: false,
    nodes: [
      {
        id: 'w1',
        name: 'Webhook',
        type: 'n8n-nodes-base.webhook',
        typeVersion: 2,
        position: [0, 0],
        webhookId: randomUUID(),
        parameters: { httpMethod: 'POST', path: webhookPath, responseMode: 'lastNode', responseData: 'allEntries', options: {} },
      },
      {
        id: 'b1', name: 'Backup', type: 'n8n-nodes-backup.backup', typeVersion: 1, position: [240, 0], onError: 'continueErrorOutput', parameters,
        ...(credentials === undefined ? {} : { credentials }),
      },
      { id: 'n1', name: 'Backed up', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [480, -100], parameters: {} },
      { id: 'n2', name: 'Backup failed', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [480, 100], parameters: {} },
    ],
    connections: {
      Webhook: { main: [[{ node: 'Backup', type: 'main', index: 0 }]] },
      Backup: { main: [[{ node: 'Backed up', type: 'main', index: 0 }], [{ node: 'Backup failed', type: 'main', index: 0 }]] },
    },
    settings: { executionOrder: 'v1' },
  };
}
