import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { pruneSet } from '../../engine';
import { cancelSignal } from '../helpers/execution';
import { assertDestinationAllowed } from '../helpers/destination';
import { optionalWholeNumber, parseCalendarRetention, readBoolean, readCollection, readNumber } from '../helpers/parameters';
import { forEachSetItem } from '../helpers/setItems';
import { assertDestructiveAllowed } from '../helpers/toolUse';

/** Backup Set > Prune: retention alone, under the set's lock; one item per input item. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  const signal = cancelSignal(this);
  return forEachSetItem(this, items, async (i, { destination, where, setName }) => {
    const keepFull = readNumber(this, 'keepFull', i, 0);
    const keepDifferential = readNumber(this, 'keepDifferential', i, 0);
    const keepIncremental = readNumber(this, 'keepIncremental', i, 0);
    const calendar = parseCalendarRetention(readCollection(this, 'calendarRetention', i));
    const dryRun = readBoolean(this, 'dryRun', i, false);
    if (!dryRun) assertDestructiveAllowed(this, i, 'prune (delete) backups');
    const lockTimeoutSeconds = optionalWholeNumber(readCollection(this, 'options', i), 'lockTimeout');
    await assertDestinationAllowed(this, where);
    const outcome = await pruneSet({
      destination, destinationOptions: where.options, setName, keepFull, keepDifferential, keepIncremental, ...calendar, dryRun, lockTimeoutSeconds, signal,
    });
    const verb = dryRun ? 'would remove' : 'removed';
    return {
      set: outcome.set, destination, dryRun: outcome.dryRun, removed: outcome.remove, kept: outcome.keep, keptReferenced: outcome.keptReferenced, reasons: outcome.reasons, rules: outcome.rules,
      summary: `Prune of set ${outcome.set}: ${verb} ${outcome.remove.length} backup(s), kept ${outcome.keep.length}.`,
    };
  });
}
