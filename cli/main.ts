import { BackupError, listDestination, restoreBackup, runBackup } from '../nodes/Backup/engine';
import type { Command } from './args';
import { parseCommand, UsageError, USAGE } from './args';
import { printBackups, printFailure, printList, printRestore } from './print';

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

async function execute(cmd: Exclude<Command, { command: 'help' | 'version' }>, io: Io, signal: AbortSignal): Promise<number> {
  switch (cmd.command) {
    case 'backup': {
      const outcomes = await runBackup({
        sources: cmd.sources, destination: cmd.dest, type: cmd.type, exclude: cmd.exclude, setName: cmd.set,
        compareContent: cmd.compareContent, skipEmptySource: cmd.skipEmpty, signal,
      });
      printBackups(outcomes, cmd.json, io);
      const failed = outcomes.some((o) => !o.ok || (cmd.failOnFileErrors && o.report.errorCount > 0));
      return failed ? 1 : 0;
    }
    case 'restore': {
      const report = await restoreBackup({ destination: cmd.dest, setName: cmd.set, backupId: cmd.backup, target: cmd.target, overwrite: cmd.overwrite, signal });
      printRestore(report, cmd.json, io);
      return report.errorCount > 0 ? 1 : 0;
    }
    case 'list': {
      printList(await listDestination(cmd.dest, cmd.set), cmd.json, io);
      return 0;
    }
  }
}

/** Runs the CLI; returns the exit status. Never lets a stack trace reach the user. */
export async function main(argv: string[], io: Io, signal: AbortSignal, version: string): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommand(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`n8n-backup: ${error.message}\nRun "n8n-backup --help" for usage.`);
    return 2;
  }
  if (cmd.command === 'help') {
    io.out(USAGE);
    return 0;
  }
  if (cmd.command === 'version') {
    io.out(version);
    return 0;
  }
  try {
    return await execute(cmd, io, signal);
  } catch (error) {
    const fatal = error instanceof BackupError ? error : new BackupError('IO_ERROR', error instanceof Error ? error.message : String(error));
    printFailure(fatal, 'json' in cmd && cmd.json, io);
    return 1;
  }
}
