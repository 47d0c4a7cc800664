import type { IExecuteFunctions, ResolvedFilePath } from 'n8n-workflow';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isSameOrInside, relativeInside } from '../../engine';
import { accessHint } from './allowedFolders';
import { OperationFailure } from './errors';
import { expandHome } from './parameters';

export type PathRole = 'source folder' | 'backup folder' | 'Restore Into folder';

const realpathResolve = async (p: string): Promise<ResolvedFilePath> => (await fsp.realpath(p)) as ResolvedFilePath;

/** n8n's checker, when this n8n has one (n8n 1.x before file-access restrictions does not). */
interface AccessChecker {
  resolve: (p: string) => Promise<ResolvedFilePath>;
  isBlocked: (resolved: ResolvedFilePath) => boolean;
}

function accessChecker(ctx: IExecuteFunctions): AccessChecker | undefined {
  const helpers: Partial<IExecuteFunctions['helpers']> | undefined = ctx.helpers;
  if (helpers === undefined || typeof helpers.isFilePathBlocked !== 'function') return undefined;
  const isBlocked = helpers.isFilePathBlocked.bind(helpers);
  const resolve = typeof helpers.resolvePath === 'function' ? helpers.resolvePath.bind(helpers) : realpathResolve;
  return { resolve, isBlocked };
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * n8n's resolvePath follows symlinks and needs the parent to exist; a destination or restore
 * target may not exist yet. So resolve the nearest existing ancestor and append the rest.
 */
export async function resolveForCheck(resolve: AccessChecker['resolve'], absolute: string): Promise<ResolvedFilePath> {
  const rest: string[] = [];
  let current = absolute;
  for (;;) {
    if (await exists(current)) {
      const base = await resolve(current);
      return (rest.length === 0 ? base : path.join(base, ...rest.reverse())) as ResolvedFilePath;
    }
    const parent = path.dirname(current);
    if (parent === current) return absolute as ResolvedFilePath;
    rest.push(path.basename(current));
    current = parent;
  }
}

function denied(role: PathRole, shown: string, resolved: string): OperationFailure {
  return new OperationFailure('ACCESS_DENIED', `Access to ${shown} is not allowed`, `n8n does not let nodes use the ${role} ${shown}. ${accessHint(resolved)}`);
}

/** Refuses a path n8n does not let nodes use. The resolved path is for the check only. */
export async function assertPathAllowed(ctx: IExecuteFunctions, absolute: string, role: PathRole): Promise<void> {
  const checker = accessChecker(ctx);
  if (checker === undefined) return;
  const resolved = await resolveForCheck(checker.resolve, absolute);
  if (checker.isBlocked(resolved)) throw denied(role, absolute, resolved);
}

/** n8n's user folder, `<N8N_USER_FOLDER or home>/.n8n`: its database, config and encryption key. */
export function n8nUserFolder(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.N8N_USER_FOLDER !== undefined && env.N8N_USER_FOLDER.trim() !== '' ? env.N8N_USER_FOLDER.trim() : os.homedir();
  return path.resolve(expandHome(base), '.n8n');
}


export type N8nFolderRelation = 'is' | 'inside' | 'contains';

/**
 * How `folder` relates to n8n's user folder, both resolved through symlinks (the nearest existing
 * ancestor for a path that does not exist yet), or undefined when they are apart.
 */
export async function relationToN8nUserFolder(folder: string, env: NodeJS.ProcessEnv = process.env): Promise<{ relation: N8nFolderRelation; own: string } | undefined> {
  const own = await resolveForCheck(realpathResolve, n8nUserFolder(env));
  const real = await resolveForCheck(realpathResolve, folder);
  if (real === own) return { relation: 'is', own };
  if (isSameOrInside(real, own)) return { relation: 'inside', own };
  if (isSameOrInside(own, real)) return { relation: 'contains', own };
  return undefined;
}

export const ALLOW_N8N_FOLDER_LABEL = "Allow n8n's Own Folder";

/**
 * This node's own rule, on top of n8n's: a folder that is, lies inside or contains n8n's user
 * folder is refused (n8n 1.x and N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES=false included), unless the
 * Backup operations' option allows it (`allowedByOption`; restore targets have no such option).
 */
export async function assertN8nUserFolderRule(folder: string, role: PathRole, allowedByOption: boolean | undefined): Promise<void> {
  if (allowedByOption === true) return;
  const found = await relationToN8nUserFolder(folder);
  if (found === undefined) return;
  const where =
    found.relation === 'is' ? `is n8n's own folder` : found.relation === 'inside' ? `is inside n8n's own folder ${found.own}` : `contains n8n's own folder ${found.own}`;
  const fix =
    allowedByOption === undefined
      ? 'Restore into a folder apart from it (then copy files over by hand, with n8n stopped, if you really mean to).'
      : `Choose a folder apart from it, or turn on Options > ${ALLOW_N8N_FOLDER_LABEL} if you mean to (n8n's folder is then still left out of the backup while n8n blocks it).`;
  throw new OperationFailure(
    'ACCESS_DENIED',
    `The ${role} ${folder} ${where}`,
    `n8n keeps its database, configuration and encryption key in ${found.own} (N8N_USER_FOLDER/.n8n, or ~/.n8n). ${fix}`,
  );
}

/** Folders and files n8n keeps for itself (what n8n-core's getN8nRestrictedPaths lists), made absolute. */
function n8nOwnPaths(): string[] {
  const env = process.env;
  const home = os.homedir();
  const userHome = env.N8N_USER_FOLDER !== undefined && env.N8N_USER_FOLDER !== '' ? env.N8N_USER_FOLDER : home;
  const listed = [
    path.join(userHome, '.n8n'),
    path.join(userHome, '.cache', 'n8n', 'public'),
    path.join(home, '.cache', 'n8n', 'public'),
    ...(env.N8N_CONFIG_FILES ?? '').split(','),
    ...(env.N8N_CUSTOM_EXTENSIONS ?? '').split(';'),
    env.N8N_BINARY_DATA_STORAGE_PATH ?? '',
    env.N8N_UM_EMAIL_TEMPLATES_INVITE ?? '',
    env.N8N_UM_EMAIL_TEMPLATES_PWRESET ?? '',
  ];
  return [...new Set(listed.map((p) => p.trim()).filter((p) => p !== '').map((p) => path.resolve(expandHome(p))))];
}

/**
 * n8n's own folders that lie strictly inside `folder` and that n8n blocks, as paths relative to
 * the folder. A folder that n8n allows (say /home/node with N8N_RESTRICT_FILE_ACCESS_TO=/home/node)
 * may still contain ~/.n8n, whose config holds the encryption key: a backup must leave it out.
 */
export async function blockedPathsInside(ctx: IExecuteFunctions, folder: string): Promise<string[]> {
  const checker = accessChecker(ctx);
  if (checker === undefined || !(await exists(folder))) return [];
  const root = await checker.resolve(folder);
  const found: string[] = [];
  for (const candidate of n8nOwnPaths()) {
    if (!(await exists(candidate))) continue;
    const resolved = await checker.resolve(candidate);
    const rel = relativeInside(resolved, root);
    if (rel === undefined || rel === '') continue;
    if (checker.isBlocked(resolved)) found.push(rel.split(path.sep).join('/'));
  }
  return found.sort();
}

/** An exclude glob that matches exactly this relative path (and, for a folder, everything in it). */
export function exactPathGlob(rel: string): string {
  return `/${rel.replace(/[\\*?[\]{}()!+@|^$]/g, '\\$&')}`;
}

/** A restore must not write into a folder of n8n's own, even with Overwrite. */
export async function assertNoBlockedPathInside(ctx: IExecuteFunctions, folder: string, role: PathRole): Promise<void> {
  const inside = await blockedPathsInside(ctx, folder);
  if (inside.length === 0) return;
  throw new OperationFailure(
    'ACCESS_DENIED',
    `Access to ${path.join(folder, inside[0])} is not allowed`,
    `The ${role} ${folder} contains ${inside.map((r) => path.join(folder, r)).join(', ')}, which n8n keeps for itself. Choose a folder that does not contain it.`,
  );
}
