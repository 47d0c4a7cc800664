import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BackupOperation, BackupOptions, CalendarOptions, OverwritePolicy, StorageFormat } from '../../engine';
import { isTimeZone, parseDuration } from '../../engine';
import { nodeProperties } from '../../descriptions';
import { invalidParameter } from './errors';

/** The display name a person sees for a parameter (top level or inside a collection). */
export function labelOf(name: string, properties: readonly INodeProperties[] = nodeProperties): string {
  for (const p of properties) {
    if (p.name === name) return p.displayName;
    const nested = (p.options ?? []).filter((o): o is INodeProperties => 'displayName' in o && 'type' in o);
    for (const o of nested) if (o.name === name) return o.displayName;
  }
  return name;
}

function describeValue(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/** `~` and `~/x` mean the home folder of the user running n8n, as in N8N_RESTRICT_FILE_ACCESS_TO. */
export function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/')) return path.join(os.homedir(), p.slice(2));
  return p;
}

/** A path as the engine receives it: trimmed, `~` expanded, absolute. */
export function toAbsolutePath(p: string): string {
  return path.resolve(expandHome(p.trim()));
}

/**
 * Folders from a "one per line or comma-separated" field. An expression may return an array:
 * its elements are taken as they are, so a folder whose name holds a comma can be given that way.
 */
export function parsePathList(value: unknown, name: string): string[] {
  let parts: string[];
  if (Array.isArray(value)) {
    parts = value.map((v: unknown) => {
      if (typeof v !== 'string') throw invalidParameter(`"${labelOf(name)}" must list folder paths, but the list holds ${describeValue(v)}.`);
      return v;
    });
  } else if (typeof value === 'string') {
    parts = value.split(/[\n,]/);
  } else {
    throw invalidParameter(`"${labelOf(name)}" must be text (one folder per line), not ${describeValue(value)}.`);
  }
  const paths = parts.map((p) => p.trim()).filter((p) => p.length > 0);
  if (paths.length === 0) throw invalidParameter(`"${labelOf(name)}" is empty.`, 'Give at least one folder, as an absolute path, e.g. /home/node/.n8n-files/documents.');
  return paths.map(toAbsolutePath);
}

/** Non-empty lines of a multi-line field (exclude globs): commas stay, they are valid in globs. */
export function parseLines(value: string): string[] {
  return value
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

export function readString(ctx: IExecuteFunctions, name: string, itemIndex: number, fallback = ''): string {
  const value = ctx.getNodeParameter(name, itemIndex, fallback);
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  throw invalidParameter(`"${labelOf(name)}" must be text, not ${describeValue(value)}.`);
}

export function readRequiredString(ctx: IExecuteFunctions, name: string, itemIndex: number, example: string): string {
  const value = readString(ctx, name, itemIndex).trim();
  if (value === '') throw invalidParameter(`"${labelOf(name)}" is empty.`, `Fill it in, e.g. ${example}.`);
  return value;
}

/** A folder parameter, made absolute. */
export function readFolder(ctx: IExecuteFunctions, name: string, itemIndex: number, example: string): string {
  return toAbsolutePath(readRequiredString(ctx, name, itemIndex, example));
}

function asWholeNumber(name: string, value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw invalidParameter(`"${labelOf(name)}" must be a whole number of 0 or more, not ${describeValue(value)}.`);
  return n;
}

function asBoolean(name: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw invalidParameter(`"${labelOf(name)}" must be true or false, not ${describeValue(value)}.`);
}

/** A whole-number option of a collection, or undefined when it was not added. */
export function optionalWholeNumber(raw: IDataObject, name: string): number | undefined {
  return raw[name] === undefined ? undefined : asWholeNumber(name, raw[name]);
}

export function readNumber(ctx: IExecuteFunctions, name: string, itemIndex: number, fallback: number): number {
  return asWholeNumber(name, ctx.getNodeParameter(name, itemIndex, fallback));
}

export function readBoolean(ctx: IExecuteFunctions, name: string, itemIndex: number, fallback: boolean): boolean {
  return asBoolean(name, ctx.getNodeParameter(name, itemIndex, fallback));
}

export function readCollection(ctx: IExecuteFunctions, name: string, itemIndex: number): IDataObject {
  const value = ctx.getNodeParameter(name, itemIndex, {});
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidParameter(`"${labelOf(name)}" must be a set of options, not ${describeValue(value)}.`);
  return value as IDataObject;
}

export function readOverwritePolicy(ctx: IExecuteFunctions, itemIndex: number): OverwritePolicy {
  const value = readString(ctx, 'overwrite', itemIndex, 'fail');
  if (value === 'fail' || value === 'overwrite' || value === 'skip') return value;
  throw invalidParameter(`"${labelOf('overwrite')}" must be fail, overwrite or skip, not ${JSON.stringify(value)}.`);
}

/** The Options collection of the Backup operations, checked field by field. */
export interface BackupNodeOptions {
  fullEveryDays?: number;
  differentialEveryDays?: number;
  keepFull?: number;
  keepDifferential?: number;
  keepIncremental?: number;
  format?: StorageFormat;
  compressionLevel?: number;
  exclude: string[];
  compareContent?: boolean;
  skipUnchanged?: boolean;
  skipEmptySource?: boolean;
  setName?: string;
  lockTimeout?: number;
  failOnFileErrors: boolean;
  /** Report what would be stored, write nothing (default off). */
  dryRun?: boolean;
  /** A source or destination may be, lie inside or contain n8n's user folder (default off). */
  allowN8nUserFolder?: boolean;
}

const NUMBER_OPTIONS = ['fullEveryDays', 'differentialEveryDays', 'keepFull', 'keepDifferential', 'keepIncremental', 'compressionLevel', 'lockTimeout'] as const;
const BOOLEAN_OPTIONS = ['compareContent', 'skipUnchanged', 'skipEmptySource', 'allowN8nUserFolder', 'dryRun'] as const;

export function parseBackupOptions(raw: IDataObject): BackupNodeOptions {
  const options: BackupNodeOptions = { exclude: [], failOnFileErrors: false };
  for (const name of NUMBER_OPTIONS) if (raw[name] !== undefined) options[name] = asWholeNumber(name, raw[name]);
  for (const name of BOOLEAN_OPTIONS) if (raw[name] !== undefined) options[name] = asBoolean(name, raw[name]);
  if (raw.failOnFileErrors !== undefined) options.failOnFileErrors = asBoolean('failOnFileErrors', raw.failOnFileErrors);
  if (raw.format !== undefined) {
    if (raw.format !== 'folder' && raw.format !== 'tar.gz') throw invalidParameter(`"${labelOf('format')}" must be folder or tar.gz, not ${describeValue(raw.format)}.`);
    options.format = raw.format;
  }
  if (raw.exclude !== undefined) {
    if (typeof raw.exclude !== 'string') throw invalidParameter(`"${labelOf('exclude')}" must be text, one glob per line.`);
    options.exclude = parseLines(raw.exclude);
  }
  if (raw.setName !== undefined) {
    if (typeof raw.setName !== 'string') throw invalidParameter(`"${labelOf('setName')}" must be text.`);
    const trimmed = raw.setName.trim();
    if (trimmed !== '') options.setName = trimmed;
  }
  return options;
}

/**
 * Node options -> the engine's options for one source (fast-glob's Options -> Settings idea: the engine validates).
 * With a passphrase the format defaults to tar.gz (the only format an encrypted set can use); a
 * Format option set to Folder stays, and the engine refuses it (ENCRYPTION_NEEDS_TARGZ).
 */
export function toEngineBackupOptions(type: BackupOperation, source: string, destination: string, o: BackupNodeOptions, passphrase?: string): BackupOptions {
  return {
    sources: [source],
    destination,
    type,
    fullEveryDays: o.fullEveryDays,
    differentialEveryDays: o.differentialEveryDays,
    exclude: o.exclude,
    setName: o.setName,
    compareContent: o.compareContent,
    skipEmptySource: o.skipEmptySource,
    skipUnchanged: o.skipUnchanged,
    keepFull: o.keepFull,
    keepDifferential: o.keepDifferential,
    keepIncremental: o.keepIncremental,
    format: o.format ?? (passphrase === undefined ? undefined : 'tar.gz'),
    compressionLevel: o.compressionLevel,
    lockTimeoutSeconds: o.lockTimeout,
    passphrase,
    dryRun: o.dryRun,
  };
}

const CALENDAR_COUNTS = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

/**
 * The Calendar Retention collection (Backup operations and Prune), checked field by field so a
 * mistake names the field; an empty Keep Within or Time Zone is no rule / UTC.
 */
export function parseCalendarRetention(raw: IDataObject): CalendarOptions {
  const options: CalendarOptions = {};
  for (const name of CALENDAR_COUNTS) if (raw[name] !== undefined) options[name] = asWholeNumber(name, raw[name]);
  for (const name of ['keepWithin', 'timeZone'] as const) {
    const value = raw[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw invalidParameter(`"${labelOf(name)}" must be text, not ${describeValue(value)}.`);
    if (value.trim() !== '') options[name] = value.trim();
  }
  if (options.keepWithin !== undefined && parseDuration(options.keepWithin) === null) {
    throw invalidParameter(
      `"${labelOf('keepWithin')}" must be a duration, not ${JSON.stringify(options.keepWithin)}.`,
      'Write a number with y (years), m (months), w (weeks), d (days) or h (hours), combined as in 1y2m or 2w3d; e.g. 30d.',
    );
  }
  if (options.timeZone !== undefined && !isTimeZone(options.timeZone)) {
    throw invalidParameter(`"${labelOf('timeZone')}" is not a time zone n8n's Node.js knows: ${JSON.stringify(options.timeZone)}.`, 'Use an IANA name such as UTC, Europe/Berlin or America/New_York.');
  }
  return options;
}
