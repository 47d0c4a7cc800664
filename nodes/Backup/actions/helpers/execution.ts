import type { IExecuteFunctions } from 'n8n-workflow';
import type { Progress } from '../../engine';
import { humanBytes } from '../../engine';

/** The execution's cancel signal (the engine stops between files); absent on older n8n. */
export function cancelSignal(ctx: IExecuteFunctions): AbortSignal | undefined {
  return typeof ctx.getExecutionCancelSignal === 'function' ? ctx.getExecutionCancelSignal() : undefined;
}

export const PROGRESS_INTERVAL_MS = 2000;

/**
 * Progress lines to the editor's browser console (sendMessageToUI), at most one per interval.
 * A failing UI message never fails the backup.
 */
export function progressReporter(ctx: IExecuteFunctions, verb: string, intervalMs = PROGRESS_INTERVAL_MS, now: () => number = Date.now): ((p: Progress) => void) | undefined {
  if (typeof ctx.sendMessageToUI !== 'function') return undefined;
  let last = Number.NEGATIVE_INFINITY;
  return (p) => {
    const t = now();
    if (t - last < intervalMs) return;
    last = t;
    const what = p.phase === 'restore' ? 'restored' : 'scanned';
    try {
      ctx.sendMessageToUI(`${verb} ${p.source}: ${p.entries.toLocaleString('en-US')} entries, ${humanBytes(p.bytes)} ${what} so far`);
    } catch {
      // The UI channel is best effort.
    }
  };
}
