// Entry point of the `n8n-backup` binary.
import { main } from './main';

const { version } = require('../../package.json') as { version: string };

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());

/** How long a finished command may take to let go of the process before it is ended anyway. */
const EXIT_GRACE_MS = 5000;

/**
 * Sets the exit code and lets the process end by itself (output flushed, threads stopped). If
 * something still holds it open after the grace time, that is a bug, but a scheduled run must
 * not hang forever (the next night's run would find it still there): say so and exit.
 */
function finish(code: number): void {
  process.exitCode = code;
  setTimeout(() => {
    process.stderr.write(`n8n-backup: the command had finished, but something still held the process open ${EXIT_GRACE_MS / 1000} s later (a bug: please report it); exiting with its code ${code}\n`);
    process.exit(code);
  }, EXIT_GRACE_MS).unref();
}

main(process.argv.slice(2), { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) }, controller.signal, version)
  .then(finish)
  .catch((error: unknown) => {
    process.stderr.write(`n8n-backup: unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`);
    finish(1);
  });
