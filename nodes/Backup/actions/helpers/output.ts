import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import type { BackupReport } from '../../engine';
import { localDateTime, summarizeBackup } from '../../engine';

/** Time fields that get a local twin (`startedAtLocal`, …) right after them. Ids stay UTC. */
const TIME_FIELDS = ['startedAt', 'finishedAt', 'backupStartedAt', 'mtime'] as const;

/**
 * The workflow's time zone as n8n gives it to a node (workflow settings, else GENERIC_TIMEZONE);
 * the process's own zone where the context has none (older n8n, tests).
 */
export function workflowTimeZone(ctx: IExecuteFunctions): string {
  const fromN8n = typeof ctx.getTimezone === 'function' ? ctx.getTimezone() : undefined;
  if (typeof fromN8n === 'string' && fromN8n !== '') return fromN8n;
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/**
 * Every item the node outputs, in the order a person reads it: `summary` first (the Table view
 * shows columns in key order), then `error`, `code`, `hint` when it failed, then the rest. Each
 * UTC time gets its local twin beside it, plus `timeZone`. Field names are never changed here.
 */
export function shapeJson(json: IDataObject, timeZone: string): IDataObject {
  const out: IDataObject = {};
  for (const first of ['summary', 'error', 'code', 'hint'] as const) if (json[first] !== undefined) out[first] = json[first];
  let hasTime = false;
  for (const [key, value] of Object.entries(json)) {
    if (key in out) continue;
    out[key] = value;
    if ((TIME_FIELDS as readonly string[]).includes(key) && typeof value === 'string' && value !== '') {
      out[`${key}Local`] = localDateTime(value, timeZone);
      hasTime = true;
    }
  }
  if (hasTime) out.timeZone = timeZone;
  return out;
}

export function shapeItem(item: INodeExecutionData, timeZone: string): INodeExecutionData {
  return { ...item, json: shapeJson(item.json, timeZone) };
}

/** A backup report as an item's json: the summary rebuilt with the local finish time. */
export function backupReportJson(report: BackupReport, timeZone: string): IDataObject {
  return { ...report, summary: summarizeBackup(report, timeZone) };
}
