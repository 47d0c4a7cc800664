import type { IExecuteFunctions, INode, INodeExecutionData, INodeProperties, ResolvedFilePath } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Backup } from '../../nodes/Backup/Backup.node';

/**
 * A small hand-written IExecuteFunctions: what the Backup node calls, nothing more. Parameters
 * not given fall back to the description's default for the current resource/operation (as n8n
 * fills them in), then to the caller's fallback; anything else throws, as n8n does.
 */

export type Params = Record<string, unknown>;

export interface MockOptions {
  /** Parameters of every item, or per item. */
  params: Params | ((itemIndex: number) => Params);
  /** Number of input items (default 1). */
  items?: number;
  continueOnFail?: boolean;
  /** isFilePathBlocked: true for resolved paths outside this folder. */
  allowedRoot?: string;
  /** isFilePathBlocked: also true for paths this returns true for. */
  blocked?: (resolved: string) => boolean;
  /** false: helpers without resolvePath/isFilePathBlocked (n8n 1.x before file-access rules). */
  fileHelpers?: boolean;
  signal?: AbortSignal;
  /** Called for each sendMessageToUI. */
  onMessage?: (message: unknown) => void;
  /** What getExecutionId() returns (absent: no getExecutionId, as in the older mocks). */
  executionId?: string;
  /** Credentials chosen in the node, by type (getCredentials throws for a type not given, as n8n does). */
  credentials?: Record<string, Record<string, unknown>>;
  /** The node's type: n8n runs the AI tool variant as `<package>.backupTool`. */
  nodeType?: string;
  /** What getTimezone() returns (the workflow's time zone); absent = no getTimezone, as on an old n8n. */
  timeZone?: string;
}

/** One line the node wrote to n8n's log (ctx.logger). */
export interface LogLine {
  level: 'error' | 'warn' | 'info' | 'debug';
  message: string;
  metadata?: Record<string, unknown>;
}

export interface MockRun {
  ctx: IExecuteFunctions;
  messages: unknown[];
  /** Every ctx.logger call, in order. */
  logs: LogLine[];
  /** Every path isFilePathBlocked was asked about. */
  checked: string[];
  /** Every getCredentials call: [type, itemIndex]. */
  credentialCalls: [string, number | undefined][];
}

const node: INode = { id: 'backup-node', name: 'Backup', type: 'n8n-nodes-backup.backup', typeVersion: 1, position: [0, 0], parameters: {} };

const properties: INodeProperties[] = new Backup().description.properties;

function shown(p: INodeProperties, value: (name: string) => unknown): boolean {
  const show = p.displayOptions?.show ?? {};
  const hide = p.displayOptions?.hide ?? {};
  for (const [key, allowed] of Object.entries(show)) if (!(allowed ?? []).includes(value(key) as never)) return false;
  for (const [key, denied] of Object.entries(hide)) if ((denied ?? []).includes(value(key) as never)) return false;
  return true;
}

/** The value n8n would give a parameter: the one set, else the default of the property displayed. */
export function parameterValue(params: Params, name: string): unknown {
  if (name in params) return params[name];
  const value = (n: string): unknown => parameterValue(params, n);
  const property = properties.find((p) => p.name === name && shown(p, value));
  return property === undefined ? undefined : structuredClone(property.default);
}

/** Like n8n's resolvePath: realpath, or for a missing path its parent's realpath + the name (the parent must exist). */
async function resolvePath(p: string): Promise<ResolvedFilePath> {
  try {
    return (await fsp.realpath(p)) as ResolvedFilePath;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return path.join(await fsp.realpath(path.dirname(p)), path.basename(p)) as ResolvedFilePath;
  }
}

export function mockContext(options: MockOptions): MockRun {
  const messages: unknown[] = [];
  const logs: LogLine[] = [];
  const logAt = (level: LogLine['level']) => (message: string, metadata?: Record<string, unknown>): void => {
    logs.push(metadata === undefined ? { level, message } : { level, message, metadata });
  };
  const checked: string[] = [];
  const credentialCalls: [string, number | undefined][] = [];
  const paramsOf = (i: number): Params => (typeof options.params === 'function' ? options.params(i) : options.params);
  const isFilePathBlocked = (resolved: string): boolean => {
    checked.push(resolved);
    if (options.blocked?.(resolved) === true) return true;
    const root = options.allowedRoot;
    return root !== undefined && !(resolved === root || resolved.startsWith(root + path.sep));
  };
  // n8n-core's prepareBinaryData in its simplest (in-memory) mode: the bytes base64 in `data`.
  const prepareBinaryData = async (bytes: Buffer, fileName?: string): Promise<Record<string, string | undefined>> => ({ data: bytes.toString('base64'), fileName, mimeType: 'application/octet-stream', fileSize: `${bytes.length} B` });
  const helpers = options.fileHelpers === false ? { prepareBinaryData } : { resolvePath, isFilePathBlocked, prepareBinaryData };
  const mock = {
    getInputData: (): INodeExecutionData[] => Array.from({ length: options.items ?? 1 }, (_, i) => ({ json: { index: i } })),
    getNodeParameter: (name: string, itemIndex: number, fallback?: unknown): unknown => {
      const value = parameterValue(paramsOf(itemIndex), name);
      if (value !== undefined) return value;
      if (fallback !== undefined) return fallback;
      throw new Error(`Could not get parameter "${name}"`);
    },
    getNode: (): INode => (options.nodeType === undefined ? node : { ...node, type: options.nodeType }),
    ...(options.timeZone === undefined ? {} : { getTimezone: (): string => options.timeZone as string }),
    getCredentials: async (type: string, itemIndex?: number): Promise<Record<string, unknown>> => {
      credentialCalls.push([type, itemIndex]);
      const data = options.credentials?.[type];
      // n8n-core's message when the node has no credential of that type chosen.
      if (data === undefined) throw new NodeOperationError(node, 'Node does not have any credentials set');
      return structuredClone(data);
    },
    continueOnFail: (): boolean => options.continueOnFail ?? false,
    getExecutionCancelSignal: (): AbortSignal | undefined => options.signal,
    sendMessageToUI: (message: unknown): void => {
      messages.push(message);
      options.onMessage?.(message);
    },
    ...(options.executionId === undefined ? {} : { getExecutionId: (): string => options.executionId as string }),
    logger: { error: logAt('error'), warn: logAt('warn'), info: logAt('info'), debug: logAt('debug') },
    helpers,
  };
  return { ctx: mock as unknown as IExecuteFunctions, messages, logs, checked, credentialCalls };
}

/** Runs the node's execute() with a mock context; returns the single output. */
export async function runNode(options: MockOptions): Promise<INodeExecutionData[]> {
  const { ctx } = mockContext(options);
  const [out] = await new Backup().execute.call(ctx);
  return out;
}

/** The NodeOperationError (or other error) the node throws. */
export async function nodeError(options: MockOptions): Promise<{ message: string; description?: string | null; context: Record<string, unknown> }> {
  try {
    await runNode(options);
  } catch (error) {
    return error as { message: string; description?: string | null; context: Record<string, unknown> };
  }
  throw new Error('expected the node to throw');
}

/** Names below a folder that are not hidden bookkeeping (locks, partials). */
export async function backupIds(setDir: string): Promise<string[]> {
  return (await fsp.readdir(setDir).catch(() => [] as string[])).filter((n) => /^\d{8}T\d{9}Z-/.test(n)).sort();
}
