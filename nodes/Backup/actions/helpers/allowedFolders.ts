import * as os from 'node:os';
import * as path from 'node:path';
import { isSameOrInside } from '../../engine';
import { n8nMajorVersion } from './n8nVersion';

export const RESTRICT_VARIABLE = 'N8N_RESTRICT_FILE_ACCESS_TO';

/** n8n 2.x's default when the variable is not set (@n8n/config SecurityConfig.restrictFileAccessTo). */
const N8N2_DEFAULT = '~/.n8n-files';

/**
 * The folders this n8n lets nodes use, computed as n8n 2.41 does (n8n-core getAllowedPaths):
 * N8N_RESTRICT_FILE_ACCESS_TO, else `~/.n8n-files` on 2.x (nothing on 1.x); split on `;`, trimmed,
 * a leading `~` replaced by the OS home (not N8N_USER_FOLDER). An empty list means no restriction.
 */
export function allowedFolders(env: NodeJS.ProcessEnv = process.env, major: number = n8nMajorVersion()): { folders: string[]; fromDefault: boolean } {
  const set = env[RESTRICT_VARIABLE];
  const raw = set ?? (major >= 2 ? N8N2_DEFAULT : '');
  const folders = raw
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => (p.startsWith('~') ? p.replace('~', os.homedir()) : p));
  return { folders, fromDefault: set === undefined };
}

/**
 * One or two sentences for ACCESS_DENIED: the folders this n8n allows and the variable to change,
 * or, when the path is inside an allowed folder, why n8n still blocks it.
 */
export function accessHint(deniedPath: string, env: NodeJS.ProcessEnv = process.env, major?: number): string {
  const { folders, fromDefault } = allowedFolders(env, major);
  const change = `To use another folder, add it to ${RESTRICT_VARIABLE} (separate folders with ;) where n8n runs (every worker in queue mode) and restart n8n.`;
  const inside = folders.length === 0 || folders.some((f) => isSameOrInside(path.resolve(deniedPath), path.resolve(f)));
  if (inside) {
    return (
      "n8n blocks it although it is in an allowed folder: it is one of n8n's own files (~/.n8n, N8N_CUSTOM_EXTENSIONS, …; N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES) " +
      'or matches N8N_BLOCK_FILE_PATTERNS (by default any .git folder). Choose another folder.'
    );
  }
  const list = folders.join(', ');
  const source = fromDefault ? `n8n's default, ${RESTRICT_VARIABLE} is not set` : RESTRICT_VARIABLE;
  return `This n8n lets nodes use only ${list} (${source}). ${change}`;
}
