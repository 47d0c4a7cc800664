import { promises as fsp } from 'node:fs';

/** Creates `file` (never over an existing one) with `text`, fsynced before it is closed. */
export async function writeNewFileSynced(file: string, text: string, mode: number): Promise<void> {
  const handle = await fsp.open(file, 'wx', mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Fsyncs a folder, so a rename or a new name in it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
