import type { IExecuteFunctions } from 'n8n-workflow';
import type { Progress } from '../../engine';
import { humanBytes, treeCounts } from '../../engine';

/** The execution's cancel signal (the engine stops between files); absent on older n8n. */
export function cancelSignal(ctx: IExecuteFunctions): AbortSignal | undefined {
  return typeof ctx.getExecutionCancelSignal === 'function' ? ctx.getExecutionCancelSignal() : undefined;
}

/**
 * How often progress is shown. The editor's browser console (sendMessageToUI) only exists in manual
 * runs and costs nothing to read, so it is frequent; n8n's log (docker logs, log files) is kept for
 * every run, scheduled ones too, so one line per quarter minute: a long run visibly moves without
 * flooding the log.
 */
export interface ProgressTiming {
  uiMs: number;
  logMs: number;
  now: () => number;
}

export const PROGRESS_TIMING: ProgressTiming = { uiMs: 2000, logMs: 15_000, now: Date.now };

/** "Backup of /data: 1,204 files, 31 folders, 2 symlinks, 3.10 GiB scanned so far". */
export function progressLine(verb: string, p: Progress): string {
  const what = p.phase === 'restore' ? 'restored' : 'scanned';
  return `${verb} ${p.source}: ${treeCounts({ files: p.files, links: 0, folders: p.folders, symlinks: p.symlinks })}, ${humanBytes(p.bytes)} ${what} so far`;
}

/** `[Backup node "Nightly backup", execution 42] `: which run a log line is about when several run at once. */
function logPrefix(ctx: IExecuteFunctions): string {
  const name = typeof ctx.getNode === 'function' ? ctx.getNode().name : undefined;
  const id = typeof ctx.getExecutionId === 'function' ? ctx.getExecutionId() : undefined;
  const parts = [name === undefined ? 'Backup node' : `Backup node "${name}"`, ...(id === undefined || id === '' ? [] : [`execution ${id}`])];
  return `[${parts.join(', ')}] `;
}

/**
 * Progress of a backup or restore: to the editor's browser console (manual runs) and to n8n's own
 * log at info level (every run), each throttled on its own. Neither channel ever fails the run.
 * Undefined when the context offers neither.
 */
export function progressReporter(ctx: IExecuteFunctions, verb: string, timing: ProgressTiming = PROGRESS_TIMING): ((p: Progress) => void) | undefined {
  const ui = typeof ctx.sendMessageToUI === 'function';
  const logger = typeof ctx.logger?.info === 'function' ? ctx.logger : undefined;
  if (!ui && logger === undefined) return undefined;
  const prefix = logger === undefined ? '' : logPrefix(ctx);
  let uiAt = Number.NEGATIVE_INFINITY;
  let logAt = Number.NEGATIVE_INFINITY;
  return (p) => {
    const t = timing.now();
    const toUi = ui && t - uiAt >= timing.uiMs;
    const toLog = logger !== undefined && t - logAt >= timing.logMs;
    if (!toUi && !toLog) return;
    const line = progressLine(verb, p);
    if (toUi) {
      uiAt = t;
      try {
        ctx.sendMessageToUI(line);
      } catch {
        // The UI channel is best effort.
      }
    }
    if (toLog) {
      logAt = t;
      try {
        logger.info(`${prefix}${line}`, { phase: p.phase, source: p.source, files: p.files, folders: p.folders, symlinks: p.symlinks, bytes: p.bytes });
      } catch {
        // So is the log.
      }
    }
  };
}

/** The run's summary in n8n's log, so a scheduled run's log shows how it ended beside its progress lines. */
export function logSummary(ctx: IExecuteFunctions, summary: string): void {
  if (typeof ctx.logger?.info !== 'function') return;
  try {
    ctx.logger.info(`${logPrefix(ctx)}${summary}`);
  } catch {
    // Best effort, as progress.
  }
}
