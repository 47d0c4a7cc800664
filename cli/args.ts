import { parseArgs } from 'node:util';
import type { OverwritePolicy } from '../nodes/Backup/engine';
import type { BackupType } from '../nodes/Backup/engine';

/** A mistake in how the CLI was called: exit code 2. */
export class UsageError extends Error {}

export type Command =
  | { command: 'help' }
  | { command: 'version' }
  | {
      command: 'backup';
      sources: string[];
      dest: string;
      type: BackupType;
      exclude: string[];
      set?: string;
      compareContent: boolean;
      skipEmpty: boolean;
      failOnFileErrors: boolean;
      json: boolean;
    }
  | { command: 'restore'; dest: string; set: string; backup: string; target: string; overwrite: OverwritePolicy; json: boolean }
  | { command: 'list'; dest: string; set?: string; json: boolean };

export const USAGE = `n8n-backup: back up folders (full, differential, incremental), list and restore backups.

Usage:
  n8n-backup backup <source>... --dest <dir> [--type full|differential|incremental]
                    [--exclude <glob>]... [--set <name>] [--compare-content]
                    [--no-skip-empty] [--fail-on-file-errors] [--json]
  n8n-backup restore --dest <dir> --set <name> [--backup <id>|latest] --target <dir>
                    [--overwrite | --skip-existing] [--json]
  n8n-backup list --dest <dir> [--set <name>] [--json]
  n8n-backup --help | --version

Exit status: 0 all succeeded, 1 something failed, 2 usage error.`;

const TYPES: readonly string[] = ['full', 'differential', 'incremental'];

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value.trim() === '') throw new UsageError(`${flag} is required`);
  return value;
}

/** Parses argv (without node and script) into a command; throws UsageError on any mistake. */
export function parseCommand(argv: string[]): Command {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') return { command: 'help' };
  if (command === '--version' || command === '-V') return { command: 'version' };
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        dest: { type: 'string' },
        type: { type: 'string', default: 'incremental' },
        exclude: { type: 'string', multiple: true, default: [] },
        set: { type: 'string' },
        backup: { type: 'string', default: 'latest' },
        target: { type: 'string' },
        overwrite: { type: 'boolean', default: false },
        'skip-existing': { type: 'boolean', default: false },
        'compare-content': { type: 'boolean', default: false },
        'no-skip-empty': { type: 'boolean', default: false },
        'fail-on-file-errors': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const v = parsed.values;
  const positionals = parsed.positionals;
  const json = v.json === true;
  switch (command) {
    case 'backup': {
      if (positionals.length === 0) throw new UsageError('backup needs at least one source folder');
      if (!TYPES.includes(v.type as string)) throw new UsageError(`--type must be full, differential or incremental (got "${String(v.type)}")`);
      return {
        command, sources: positionals, dest: required(v.dest, '--dest'), type: v.type as BackupType, exclude: v.exclude as string[], set: v.set,
        compareContent: v['compare-content'] === true, skipEmpty: v['no-skip-empty'] !== true, failOnFileErrors: v['fail-on-file-errors'] === true, json,
      };
    }
    case 'restore': {
      if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      if (v.overwrite === true && v['skip-existing'] === true) throw new UsageError('use either --overwrite or --skip-existing, not both');
      const overwrite: OverwritePolicy = v.overwrite === true ? 'overwrite' : v['skip-existing'] === true ? 'skip' : 'fail';
      return { command, dest: required(v.dest, '--dest'), set: required(v.set, '--set'), backup: v.backup as string, target: required(v.target, '--target'), overwrite, json };
    }
    case 'list':
      if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      return { command, dest: required(v.dest, '--dest'), set: v.set, json };
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}
