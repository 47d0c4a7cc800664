import type { CalendarOptions } from '../nodes/Backup/engine';
import { BackupError, listDestination, pruneSet, restoreBackup, runBackup, setStatus, verifyBackups } from '../nodes/Backup/engine';
import type { Command } from './args';
import { runBrowse } from './browse';
import { parseCommand, UsageError, USAGE } from './args';
import { resolvePassphrase } from './passphrase';
import type { Io } from './print';
import { printBackups, printFailure, printList, printPrune, printRestore, printStatus, printVerify } from './print';

type Runnable = Exclude<Command, { command: 'help' | 'version' }>;

/** The calendar retention flags, as the engine takes them (same names on both sides). */
function calendarOf(cmd: CalendarOptions): CalendarOptions {
  const { keepLast, keepHourly, keepDaily, keepWeekly, keepMonthly, keepYearly, keepWithin, timeZone } = cmd;
  return { keepLast, keepHourly, keepDaily, keepWeekly, keepMonthly, keepYearly, keepWithin, timeZone };
}

async function execute(cmd: Runnable, io: Io, signal: AbortSignal, passphrase: string | undefined): Promise<number> {
  switch (cmd.command) {
    case 'backup': {
      const outcomes = await runBackup({
        sources: cmd.sources, destination: cmd.dest, destinationOptions: cmd.remote, type: cmd.type, exclude: cmd.exclude, setName: cmd.set, compareContent: cmd.compareContent,
        skipEmptySource: cmd.skipEmpty, skipUnchanged: cmd.skipUnchanged, fullEveryDays: cmd.fullEveryDays, differentialEveryDays: cmd.differentialEveryDays,
        keepFull: cmd.keepFull, keepDifferential: cmd.keepDifferential, keepIncremental: cmd.keepIncremental, ...calendarOf(cmd),
        // An encrypted set must be tar.gz: the default then; an explicit --format folder is refused by the engine.
        format: cmd.format ?? (passphrase === undefined ? 'folder' : 'tar.gz'),
        compressionLevel: cmd.compressionLevel, lockTimeoutSeconds: cmd.lockTimeout, passphrase, signal, dryRun: cmd.dryRun,
      });
      return printBackups(outcomes, cmd.json, cmd.failOnFileErrors, io);
    }
    case 'restore':
      return printRestore(
        await restoreBackup({
          destination: cmd.dest, destinationOptions: cmd.remote, setName: cmd.set, backupId: cmd.backup, asOf: cmd.asOf, timeZone: cmd.timeZone,
          include: cmd.include, exclude: cmd.exclude, target: cmd.target, overwrite: cmd.overwrite, passphrase, signal,
        }),
        cmd.json,
        io,
      );
    case 'list':
      printList(await listDestination(cmd.dest, cmd.set, cmd.remote), cmd.json, io);
      return 0;
    case 'verify':
      return printVerify(await verifyBackups({ destination: cmd.dest, destinationOptions: cmd.remote, setName: cmd.set, backupId: cmd.backup, full: cmd.full, passphrase, signal }), cmd.json, io);
    case 'prune':
      printPrune(
        await pruneSet({
          destination: cmd.dest, destinationOptions: cmd.remote, setName: cmd.set, keepFull: cmd.keepFull, keepDifferential: cmd.keepDifferential, keepIncremental: cmd.keepIncremental,
          ...calendarOf(cmd), dryRun: cmd.dryRun, lockTimeoutSeconds: cmd.lockTimeout, signal,
        }),
        cmd.json,
        io,
      );
      return 0;
    case 'files':
    case 'diff':
    case 'find':
      return runBrowse(cmd, io, signal, passphrase);
    case 'status':
      return printStatus(await setStatus({ destination: cmd.dest, destinationOptions: cmd.remote, setName: cmd.set, passphrase, signal }), cmd.json, io);
  }
}

/** Commands that read or write file contents or manifests take a passphrase (environment or file); list and prune never need one. */
function passphraseOf(cmd: Runnable, env: NodeJS.ProcessEnv, io: Io): string | undefined {
  if (cmd.command === 'list' || cmd.command === 'prune') return undefined;
  return resolvePassphrase(cmd.passphraseFile, env, io);
}

/** Runs the CLI; returns the exit status. Never lets a stack trace reach the user. */
export async function main(argv: string[], io: Io, signal: AbortSignal, version: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let cmd: Command;
  let passphrase: string | undefined;
  try {
    cmd = parseCommand(argv, env);
    if (cmd.command !== 'help' && cmd.command !== 'version') passphrase = passphraseOf(cmd, env, io);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`n8n-backup: ${error.message} (see n8n-backup --help)`);
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
    return await execute(cmd, io, signal, passphrase);
  } catch (error) {
    const fatal = error instanceof BackupError ? error : new BackupError('IO_ERROR', error instanceof Error ? error.message : String(error));
    printFailure(fatal, cmd.json, io, cmd.command === 'files' || cmd.command === 'diff' || cmd.command === 'find');
    return 1;
  }
}
