import type { IExecuteFunctions } from 'n8n-workflow';
import { invalidParameter } from './errors';
import { labelOf, parseLines, readString } from './parameters';

/**
 * Restore As Of as text for the engine (which parses it in the workflow's time zone), or undefined
 * when empty. The date picker gives `2026-11-24T18:00:00`; an expression may give a Luxon DateTime
 * or a Date: an instant then, written with its offset so no zone is guessed.
 */
export function readAsOf(ctx: IExecuteFunctions, itemIndex: number): string | undefined {
  const value: unknown = ctx.getNodeParameter('asOf', itemIndex, '');
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object' && 'toISO' in value && typeof value.toISO === 'function') {
    const iso: unknown = (value.toISO as () => unknown).call(value);
    if (typeof iso === 'string') return iso;
  }
  throw invalidParameter(`"${labelOf('asOf')}" must be a date-time, e.g. 2026-11-24T18:00:00, not ${typeof value}.`);
}

/** Which backup and which of its paths: Backup ID (or Restore As Of), Only These Paths, Leave Out Paths (Restore, List Files). */
export interface BackupSelection {
  backupId: string;
  asOf: string | undefined;
  include: string[];
  exclude: string[];
}

export function readBackupSelection(ctx: IExecuteFunctions, itemIndex: number): BackupSelection {
  return {
    backupId: readString(ctx, 'backupId', itemIndex, 'latest').trim() || 'latest',
    asOf: readAsOf(ctx, itemIndex),
    include: parseLines(readString(ctx, 'includePaths', itemIndex, '')),
    exclude: parseLines(readString(ctx, 'excludePaths', itemIndex, '')),
  };
}
