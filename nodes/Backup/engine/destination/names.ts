/**
 * Object names: relative POSIX paths the engine builds (`set/id/data/a/b.txt`). The same rule for
 * every store, so a name that works on S3 also works as a path on SFTP and locally: no empty, `.`
 * or `..` segment, no leading `/`, no NUL, and nothing under the file trees' temp folder.
 */
export const INCOMING_DIR = '.incoming';

export function checkName(name: string): string {
  if (name === '' || name.includes('\0') || name.startsWith('/') || name.endsWith('/')) throw new Error(`invalid object name: ${JSON.stringify(name)}`);
  for (const segment of name.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') throw new Error(`invalid object name: ${JSON.stringify(name)}`);
  }
  if (name === INCOMING_DIR || name.startsWith(`${INCOMING_DIR}/`)) throw new Error(`object names under ${INCOMING_DIR}/ are reserved: ${JSON.stringify(name)}`);
  return name;
}

/** A list prefix: empty, a folder (`a/b/`) or a folder plus the start of a name (`a/b/20`). */
export function checkPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
  if (folder !== '') checkName(folder.slice(0, -1));
  if (prefix.includes('\0')) throw new Error(`invalid prefix: ${JSON.stringify(prefix)}`);
  return prefix;
}

/** Splits a prefix into its folder (``, `a/b/`) and the start of the names inside it. */
export function splitPrefix(prefix: string): { folder: string; start: string } {
  const cut = prefix.lastIndexOf('/') + 1;
  return { folder: prefix.slice(0, cut), start: prefix.slice(cut) };
}

/** The first folder of a name (`set` of `set/id/x`), '' for a name outside any folder. */
export function topFolder(name: string): string {
  const cut = name.indexOf('/');
  return cut < 0 ? '' : name.slice(0, cut);
}

/**
 * What sweep() narrows to: one top folder, `set/` (file trees keep their temp files per top
 * folder, so a deeper prefix could not be told apart there). Returned without its `/`.
 */
export function checkSetFolder(prefix: string): string {
  if (!/^[^/]+\/$/.test(prefix)) throw new Error(`sweep takes one top folder ending with /: ${JSON.stringify(prefix)}`);
  return checkName(prefix.slice(0, -1));
}
