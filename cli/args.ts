import { parseArgs } from 'node:util';
import type { BackupOperation, CalendarOptions, DestinationOptions, OverwritePolicy, StorageFormat } from '../nodes/Backup/engine';
import { isTimeZone, parseDuration } from '../nodes/Backup/engine';
import { REMOTE_FLAGS, REMOTE_OPTIONS, REMOTE_USAGE, remoteOptions } from './remote';

/** A mistake in how the CLI was called: exit code 2. */
export class UsageError extends Error {}

export interface BackupCommand extends CalendarOptions {
  command: 'backup';
  sources: string[];
  dest: string;
  /** Settings of an s3:// or sftp:// --dest (flags and variables; see remote.ts). */
  remote: DestinationOptions;
  type: BackupOperation;
  exclude: string[];
  set?: string;
  compareContent: boolean;
  skipEmpty: boolean;
  skipUnchanged?: boolean;
  fullEveryDays?: number;
  differentialEveryDays?: number;
  keepFull?: number;
  keepDifferential?: number;
  keepIncremental?: number;
  /** Undefined when --format was not given: folder, or tar.gz for an encrypted set. */
  format?: StorageFormat;
  compressionLevel?: number;
  lockTimeout?: number;
  failOnFileErrors: boolean;
  /** --dry-run: report what would be stored, write nothing. */
  dryRun: boolean;
  /** --passphrase-file (the passphrase itself is read by main, never parsed from argv). */
  passphraseFile?: string;
  json: boolean;
}

export type Command =
  | { command: 'help' }
  | { command: 'version' }
  | BackupCommand
  | RestoreCommand
  | { command: 'list'; dest: string; remote: DestinationOptions; set?: string; json: boolean }
  | { command: 'verify'; dest: string; remote: DestinationOptions; set: string; backup: string; full: boolean; passphraseFile?: string; json: boolean }
  | PruneCommand
  | BrowseCommand
  | { command: 'status'; dest: string; remote: DestinationOptions; set: string; passphraseFile?: string; json: boolean };

/** files, diff and find (cli/browse.ts): read-only looks into a set. */
export type BrowseCommand =
  | (BrowseBase & { command: 'files'; backup?: string; asOf?: string; timeZone?: string; include: string[]; exclude: string[] })
  | (BrowseBase & { command: 'diff'; from?: string; to?: string; include: string[]; exclude: string[]; metadata: boolean })
  | (BrowseBase & { command: 'find'; paths: string[]; metadata: boolean });

interface BrowseBase {
  dest: string;
  remote: DestinationOptions;
  set: string;
  passphraseFile?: string;
  json: boolean;
}

export interface RestoreCommand {
  command: 'restore';
  dest: string;
  remote: DestinationOptions;
  set: string;
  backup: string;
  /** --as-of: an ISO date-time (checked by the engine), instead of --backup. */
  asOf?: string;
  /** The zone of an --as-of without offset (UTC by default). */
  timeZone?: string;
  include: string[];
  exclude: string[];
  target: string;
  overwrite: OverwritePolicy;
  passphraseFile?: string;
  json: boolean;
}

export interface PruneCommand extends CalendarOptions {
  command: 'prune';
  dest: string;
  remote: DestinationOptions;
  set: string;
  keepFull?: number;
  keepDifferential?: number;
  keepIncremental?: number;
  dryRun: boolean;
  lockTimeout?: number;
  json: boolean;
}

export const USAGE = `n8n-backup: back up folders (auto, full, differential, incremental), list, restore, verify and prune backups.

Usage:
  n8n-backup backup <source>... --dest <dir> [--type auto|full|differential|incremental]
                    [--full-every-days N] [--differential-every-days N]
                    [--skip-unchanged | --no-skip-unchanged] [--no-skip-empty]
                    [--keep-full N] [--keep-differential N] [--keep-incremental N]
                    [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N]
                    [--keep-monthly N] [--keep-yearly N] [--keep-within DURATION]
                    [--time-zone ZONE]
                    [--format folder|tar.gz] [--compression-level 0-9]
                    [--exclude <glob>]... [--set <name>] [--compare-content]
                    [--lock-timeout SECONDS] [--fail-on-file-errors] [--dry-run]
                    [--passphrase-file <file>] [--json]
  n8n-backup restore --dest <dir> --set <name> [--backup <id>|latest | --as-of <date-time>]
                    --target <dir> [--include <glob>]... [--exclude <glob>]... [--time-zone ZONE]
                    [--overwrite | --skip-existing] [--passphrase-file <file>] [--json]
  n8n-backup list    --dest <dir> [--set <name>] [--json]
  n8n-backup verify  --dest <dir> --set <name> [--backup <id>|latest|all] [--full]
                    [--passphrase-file <file>] [--json]
  n8n-backup prune   --dest <dir> --set <name> [--keep-full N] [--keep-differential N]
                    [--keep-incremental N] [--keep-last N] [--keep-hourly N] [--keep-daily N]
                    [--keep-weekly N] [--keep-monthly N] [--keep-yearly N]
                    [--keep-within DURATION] [--time-zone ZONE]
                    [--dry-run] [--lock-timeout SECONDS] [--json]
  n8n-backup files   --dest <dir> --set <name> [--backup <id>|latest | --as-of <date-time>]
                    [--include <glob>]... [--exclude <glob>]... [--time-zone ZONE]
                    [--passphrase-file <file>] [--json]
  n8n-backup diff    --dest <dir> --set <name> [--from <id>|previous] [--to <id>|latest]
                    [--include <glob>]... [--exclude <glob>]... [--metadata]
                    [--passphrase-file <file>] [--json]
  n8n-backup find    --dest <dir> --set <name> <path or glob>... [--metadata]
                    [--passphrase-file <file>] [--json]
  n8n-backup status  --dest <dir> --set <name> [--passphrase-file <file>] [--json]
  n8n-backup --help | --version

Retention: a backup is kept if any rule keeps it. --keep-full/--keep-differential/--keep-incremental
count backups per type (0 = all); --keep-last/-hourly/-daily/-weekly/-monthly/-yearly N keep the newest
backup of each of the N most recent periods that have one (restic's forget rules), in --time-zone
(an IANA name, default UTC); --keep-within DURATION (30d, 2w, 1y2m) keeps every backup that recent,
counted back from the newest. A kept backup always keeps the backups it needs to restore.

Backup --dry-run reports what the backup would store (type, counts, bytes of file content,
uncompressed for tar.gz) and writes nothing to the destination: no backup, lock, retention or sweep.

Status: the newest complete backup and its age, the last run's result (last-run.json), the quick
checks of the newest backup's chain, total size; exit status 1 when it is not OK (no complete
backup, a failed last run, or a chain problem), for cron and monitoring.

Restore: --as-of 2026-11-24T18:00 restores the newest complete backup that started at or before
that time (a date alone means the end of that day; without an offset the time is in --time-zone,
default UTC). --include restores only matching paths, --exclude leaves paths out (both repeatable):
patterns match the path relative to the backup root, a folder brings everything below it, a glob
without "/" matches a name at any depth (*.pdf), ./name only at the root. No match is an error.

Browse: files lists the paths of one backup (kind and mode, size, mtime, path; --json adds the
hash and the backup that holds the bytes); diff shows what changed from --from (default: the
backup before --to) to --to (default latest): + added, M changed, - deleted, U metadata only
(with --metadata); find shows every version of the paths (restore's patterns) across all backups.
With --json each output line is one JSON object with a "type" (entry, change, version; report last).

${REMOTE_USAGE}

Encrypted sets (tar.gz only; backup, restore, verify, files, diff, find, status): the passphrase comes from the
environment variable N8N_BACKUP_PASSPHRASE or from the first line of --passphrase-file <file>,
never from an argument. With a passphrase, backup uses --format tar.gz unless told otherwise.
Losing the passphrase loses the backups.

Exit status: 0 all succeeded, 1 something failed, 2 usage error.`;

/** The environment variable that holds the passphrase of encrypted sets. */
export const ENCRYPTION_ENV_VARIABLE = 'N8N_BACKUP_PASSPHRASE';

/** Why a passphrase never comes from an argument: shown when one is tried. */
export const NO_PASSPHRASE_ARGUMENT =
  `a passphrase is never taken from the command line (other users see it in the process list, and it stays in the shell history): ` +
  `set ${ENCRYPTION_ENV_VARIABLE} in the environment, or use --passphrase-file <file> (its first line)`;

/** True for `--passphrase` and `--passphrase=…` before a `--` that ends the options. */
export function triesPassphraseArgument(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--passphrase' || arg.startsWith('--passphrase=')) return true;
  }
  return false;
}

const OPTIONS = {
  dest: { type: 'string' },
  type: { type: 'string' },
  exclude: { type: 'string', multiple: true },
  set: { type: 'string' },
  backup: { type: 'string' },
  'as-of': { type: 'string' },
  include: { type: 'string', multiple: true },
  target: { type: 'string' },
  overwrite: { type: 'boolean' },
  'skip-existing': { type: 'boolean' },
  'compare-content': { type: 'boolean' },
  'no-skip-empty': { type: 'boolean' },
  'skip-unchanged': { type: 'boolean' },
  'no-skip-unchanged': { type: 'boolean' },
  'full-every-days': { type: 'string' },
  'differential-every-days': { type: 'string' },
  'keep-full': { type: 'string' },
  'keep-differential': { type: 'string' },
  'keep-incremental': { type: 'string' },
  'keep-last': { type: 'string' },
  'keep-hourly': { type: 'string' },
  'keep-daily': { type: 'string' },
  'keep-weekly': { type: 'string' },
  'keep-monthly': { type: 'string' },
  'keep-yearly': { type: 'string' },
  'keep-within': { type: 'string' },
  'time-zone': { type: 'string' },
  format: { type: 'string' },
  'compression-level': { type: 'string' },
  'lock-timeout': { type: 'string' },
  'fail-on-file-errors': { type: 'boolean' },
  full: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  from: { type: 'string' },
  to: { type: 'string' },
  metadata: { type: 'boolean' },
  'passphrase-file': { type: 'string' },
  json: { type: 'boolean' },
  ...REMOTE_OPTIONS,
} as const;

type Flag = keyof typeof OPTIONS;
const KEEP: Flag[] = [
  'keep-full', 'keep-differential', 'keep-incremental', 'keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-yearly', 'keep-within', 'time-zone',
];

/** Which flags each command accepts: anything else is a usage error, not silently ignored. */
const ALLOWED: Record<'backup' | 'restore' | 'list' | 'verify' | 'prune' | 'files' | 'diff' | 'find' | 'status', Flag[]> = {
  backup: [
    'dest', 'type', 'exclude', 'set', 'compare-content', 'no-skip-empty', 'skip-unchanged', 'no-skip-unchanged', 'full-every-days', 'differential-every-days',
    ...KEEP, 'format', 'compression-level', 'lock-timeout', 'fail-on-file-errors', 'dry-run', 'passphrase-file', 'json', ...REMOTE_FLAGS,
  ],
  restore: ['dest', 'set', 'backup', 'as-of', 'time-zone', 'include', 'exclude', 'target', 'overwrite', 'skip-existing', 'passphrase-file', 'json', ...REMOTE_FLAGS],
  list: ['dest', 'set', 'json', ...REMOTE_FLAGS],
  verify: ['dest', 'set', 'backup', 'full', 'passphrase-file', 'json', ...REMOTE_FLAGS],
  prune: ['dest', 'set', ...KEEP, 'dry-run', 'lock-timeout', 'json', ...REMOTE_FLAGS],
  files: ['dest', 'set', 'backup', 'as-of', 'time-zone', 'include', 'exclude', 'passphrase-file', 'json', ...REMOTE_FLAGS],
  diff: ['dest', 'set', 'from', 'to', 'include', 'exclude', 'metadata', 'passphrase-file', 'json', ...REMOTE_FLAGS],
  find: ['dest', 'set', 'metadata', 'passphrase-file', 'json', ...REMOTE_FLAGS],
  status: ['dest', 'set', 'passphrase-file', 'json', ...REMOTE_FLAGS],
};

const OPERATIONS: readonly string[] = ['auto', 'full', 'differential', 'incremental'];
const FORMATS: readonly string[] = ['folder', 'tar.gz'];

type Values = Partial<Record<Flag, string | boolean | string[]>>;

function text(v: Values, flag: Flag): string | undefined {
  const value = v[flag];
  return typeof value === 'string' ? value : undefined;
}

function required(v: Values, flag: Flag): string {
  const value = text(v, flag);
  if (value === undefined || value.trim() === '') throw new UsageError(`--${flag} is required`);
  return value;
}

function count(v: Values, flag: Flag, max: number): number | undefined {
  const value = text(v, flag);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > max) throw new UsageError(`--${flag} takes a whole number from 0 to ${max} (got "${value}")`);
  return Number(value);
}

function oneOf(v: Values, flag: Flag, allowed: readonly string[], fallback: string): string {
  const value = text(v, flag) ?? fallback;
  if (!allowed.includes(value)) throw new UsageError(`--${flag} must be ${allowed.join(', ')} (got "${value}")`);
  return value;
}

function exclusive(v: Values, a: Flag, b: Flag): void {
  if (v[a] === true && v[b] === true) throw new UsageError(`use either --${a} or --${b}, not both`);
}

function passphraseFile(v: Values): string | undefined {
  const value = text(v, 'passphrase-file');
  if (value !== undefined && value.trim() === '') throw new UsageError('--passphrase-file needs a file name');
  return value;
}

function keepWithin(v: Values): string | undefined {
  const value = text(v, 'keep-within');
  if (value !== undefined && parseDuration(value) === null) {
    throw new UsageError(`--keep-within takes a duration of years, months, weeks, days and hours such as 30d, 2w, 1y2m or 2y5m7d3h (got "${value}")`);
  }
  return value;
}

function timeZone(v: Values): string | undefined {
  const value = text(v, 'time-zone');
  if (value !== undefined && !isTimeZone(value.trim())) throw new UsageError(`--time-zone takes an IANA time zone name such as UTC or Europe/Berlin (got "${value}")`);
  return value;
}

/** --as-of of restore and files: a date-time instead of --backup; --time-zone goes with it only. */
function asOfFlag(v: Values, command: string): string | undefined {
  const asOf = text(v, 'as-of');
  if (asOf !== undefined && asOf.trim() === '') throw new UsageError('--as-of needs a date-time, e.g. 2026-11-24T18:00');
  if (asOf !== undefined && text(v, 'backup') !== undefined) throw new UsageError('use either --backup or --as-of, not both');
  if (text(v, 'time-zone') !== undefined && asOf === undefined) throw new UsageError(`--time-zone applies to ${command} only with --as-of`);
  return asOf;
}

const keeps = (v: Values): { keepFull?: number; keepDifferential?: number; keepIncremental?: number } & CalendarOptions => ({
  keepFull: count(v, 'keep-full', 100_000),
  keepDifferential: count(v, 'keep-differential', 100_000),
  keepIncremental: count(v, 'keep-incremental', 100_000),
  keepLast: count(v, 'keep-last', 100_000),
  keepHourly: count(v, 'keep-hourly', 100_000),
  keepDaily: count(v, 'keep-daily', 100_000),
  keepWeekly: count(v, 'keep-weekly', 100_000),
  keepMonthly: count(v, 'keep-monthly', 100_000),
  keepYearly: count(v, 'keep-yearly', 100_000),
  keepWithin: keepWithin(v),
  timeZone: timeZone(v),
});

/** Parses argv (without node and script) into a command; throws UsageError on any mistake. */
export function parseCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Command {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') return { command: 'help' };
  if (command === '--version' || command === '-V') return { command: 'version' };
  if (!(command in ALLOWED)) throw new UsageError(`unknown command "${command}"`);
  const name = command as keyof typeof ALLOWED;
  // Before parseArgs, whose message would quote the value: the passphrase itself.
  if (triesPassphraseArgument(rest)) throw new UsageError(NO_PASSPHRASE_ARGUMENT);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const v = parsed.values as Values;
  const stray = (Object.keys(v) as Flag[]).find((flag) => !ALLOWED[name].includes(flag));
  if (stray !== undefined) throw new UsageError(`--${stray} does not apply to ${name}`);
  if (name !== 'backup' && name !== 'find' && parsed.positionals.length > 0) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
  const json = v.json === true;
  const lockTimeout = count(v, 'lock-timeout', 86_400);
  const remote = remoteOptions(v, env);
  switch (name) {
    case 'backup': {
      if (parsed.positionals.length === 0) throw new UsageError('backup needs at least one source folder');
      exclusive(v, 'skip-unchanged', 'no-skip-unchanged');
      return {
        command: name, sources: parsed.positionals, dest: required(v, 'dest'), remote, type: oneOf(v, 'type', OPERATIONS, 'auto') as BackupOperation,
        exclude: (v.exclude as string[] | undefined) ?? [], set: text(v, 'set'), compareContent: v['compare-content'] === true, skipEmpty: v['no-skip-empty'] !== true,
        skipUnchanged: v['skip-unchanged'] === true ? true : v['no-skip-unchanged'] === true ? false : undefined,
        fullEveryDays: count(v, 'full-every-days', 36_500), differentialEveryDays: count(v, 'differential-every-days', 36_500), ...keeps(v),
        format: text(v, 'format') === undefined ? undefined : (oneOf(v, 'format', FORMATS, 'folder') as StorageFormat), compressionLevel: count(v, 'compression-level', 9), lockTimeout,
        failOnFileErrors: v['fail-on-file-errors'] === true, dryRun: v['dry-run'] === true, passphraseFile: passphraseFile(v), json,
      };
    }
    case 'restore': {
      exclusive(v, 'overwrite', 'skip-existing');
      const overwrite: OverwritePolicy = v.overwrite === true ? 'overwrite' : v['skip-existing'] === true ? 'skip' : 'fail';
      const asOf = asOfFlag(v, name);
      return {
        command: name, dest: required(v, 'dest'), remote, set: required(v, 'set'), backup: text(v, 'backup') ?? 'latest', asOf, timeZone: timeZone(v),
        include: (v.include as string[] | undefined) ?? [], exclude: (v.exclude as string[] | undefined) ?? [], target: required(v, 'target'), overwrite, passphraseFile: passphraseFile(v), json,
      };
    }
    case 'list':
      return { command: name, dest: required(v, 'dest'), remote, set: text(v, 'set'), json };
    case 'verify':
      return { command: name, dest: required(v, 'dest'), remote, set: required(v, 'set'), backup: text(v, 'backup') ?? 'all', full: v.full === true, passphraseFile: passphraseFile(v), json };
    case 'prune':
      return { command: name, dest: required(v, 'dest'), remote, set: required(v, 'set'), ...keeps(v), dryRun: v['dry-run'] === true, lockTimeout, json };
    case 'files':
    case 'diff':
    case 'find': {
      const base: BrowseBase = { dest: required(v, 'dest'), remote, set: required(v, 'set'), passphraseFile: passphraseFile(v), json };
      const include = (v.include as string[] | undefined) ?? [];
      const exclude = (v.exclude as string[] | undefined) ?? [];
      if (name === 'files') return { ...base, command: name, backup: text(v, 'backup'), asOf: asOfFlag(v, name), timeZone: timeZone(v), include, exclude };
      if (name === 'diff') return { ...base, command: name, from: text(v, 'from'), to: text(v, 'to'), include, exclude, metadata: v.metadata === true };
      if (parsed.positionals.length === 0) throw new UsageError('find needs at least one path or pattern to look for');
      return { ...base, command: name, paths: parsed.positionals, metadata: v.metadata === true };
    }
    case 'status':
      return { command: name, dest: required(v, 'dest'), remote, set: required(v, 'set'), passphraseFile: passphraseFile(v), json };
  }
}
