import type { IExecuteFunctions } from 'n8n-workflow';
import { OperationFailure } from './errors';
import { readBoolean } from './parameters';

/** The parameter (shown only in the tool variant, "@tool") that lets an agent do what cannot be undone. */
export const ALLOW_DESTRUCTIVE_TOOL_USE = 'allowDestructiveToolUse';

/**
 * Whether an AI agent is calling the node: n8n 2.x runs the tool variant of a `usableAsTool` node
 * under the type name with "Tool" appended (n8n-nodes-backup.backupTool), as its own `@tool`
 * display rule checks. n8n has no per-operation tool switch, so the node gates itself.
 */
export function isToolCall(ctx: IExecuteFunctions): boolean {
  return ctx.getNode().type.endsWith('Tool');
}

/**
 * Refuses `what` (a prune that deletes, a restore with Overwrite) when an agent calls the node,
 * unless the workflow's author turned on "Let the AI Agent Change Files". Checked before any path.
 */
export function assertDestructiveAllowed(ctx: IExecuteFunctions, itemIndex: number, what: string): void {
  if (!isToolCall(ctx)) return;
  if (readBoolean(ctx, ALLOW_DESTRUCTIVE_TOOL_USE, itemIndex, false)) return;
  throw new OperationFailure(
    'TOOL_NOT_ALLOWED',
    `An AI agent may not ${what} through this node`,
    'The workflow author keeps this off so an agent cannot delete backups or overwrite files. Use Dry Run (Prune) or Fail / Skip (Restore), ' +
      'or turn on "Let the AI Agent Change Files" in the Backup tool node if the agent really should.',
  );
}
