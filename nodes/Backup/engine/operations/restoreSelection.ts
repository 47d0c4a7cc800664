/**
 * Which paths of a backup a restore writes (--include / --exclude), after restic's restore filters,
 * with the globs of backup's --exclude: a pattern is matched against the path relative to the
 * backup root; one without `/` matches a name at any depth (`*.pdf`, `node_modules`); one with `/`,
 * or starting with `./`, matches from the root (`docs/2026/**`, `./docs`). A pattern that matches a
 * folder selects everything below it, for --include and for --exclude alike. A path is restored
 * when it is included (no --include: everything is) and not excluded. Folders above a restored
 * path are made too, with their recorded mode and times, although they are not restored whole.
 */
import picomatch from 'picomatch';
import { BackupError } from '../errors';
import { parentOf } from '../paths';

export interface SelectionPatterns {
  include?: readonly string[];
  exclude?: readonly string[];
}

/** What a restore reports about its filters. */
export interface SelectionReport {
  include: string[];
  exclude: string[];
  /** Include patterns that matched no path of the backup (another pattern did). */
  unmatched: string[];
}

interface Compiled {
  pattern: string;
  test: (relPath: string) => boolean;
}

interface State {
  included: boolean;
  excluded: boolean;
}

function refuse(pattern: string, why: string): BackupError {
  return new BackupError('PATTERN_INVALID', `The restore pattern ${JSON.stringify(pattern)} is refused: ${why}.`, {
    hint: 'Patterns are relative to the backup root: docs/report.pdf, docs (a folder and all in it), *.pdf (a name at any depth), ./docs (only at the root), docs/**/*.txt.',
  });
}

/** Checks one pattern and compiles it; blank ones are dropped by the caller. */
function compile(raw: string): Compiled {
  const pattern = raw.trim();
  if (pattern.includes('\0')) throw refuse(raw, 'it contains a NUL byte');
  if (pattern.startsWith('/') || /^[A-Za-z]:[\\/]/.test(pattern)) throw refuse(raw, 'it is absolute; patterns are matched against paths relative to the backup root');
  const anchored = pattern.startsWith('./');
  const body = pattern.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (body === '' || body === '.') throw refuse(raw, 'it names no path (to restore everything, give no --include)');
  for (const part of body.split('/')) {
    if (part === '..') throw refuse(raw, 'it contains ".."; nothing outside the backup can be selected');
    if (part === '.' || part === '') throw refuse(raw, `it has an empty or "." component`);
  }
  let isMatch: (relPath: string) => boolean;
  try {
    // A name pattern is compiled with basename: it then matches the last component of any path.
    isMatch = picomatch(body, { dot: true, basename: !anchored && !body.includes('/') });
  } catch (error) {
    throw refuse(raw, error instanceof Error ? error.message : String(error));
  }
  return { pattern: raw.trim(), test: isMatch };
}

function compileAll(patterns: readonly string[] | undefined): Compiled[] {
  return (patterns ?? []).filter((p) => p.trim() !== '').map(compile);
}

/**
 * Decides path by path, in the manifest's walk order (any order works: folders are remembered
 * along the current chain only, so memory stays at the depth of the tree).
 */
export class RestoreSelection {
  private readonly include: Compiled[];
  private readonly exclude: Compiled[];
  private readonly matched = new Set<string>();
  /** Decisions of the folders along the path last asked about. */
  private readonly chain: { path: string; state: State }[] = [];
  /** Paths selected during the check pass (NOTHING_SELECTED when none). */
  selectedCount = 0;

  constructor(patterns: SelectionPatterns) {
    this.include = compileAll(patterns.include);
    this.exclude = compileAll(patterns.exclude);
  }

  /** True when there are filters at all (a plain restore takes no detour). */
  get active(): boolean {
    return this.include.length > 0 || this.exclude.length > 0;
  }

  /** True when `relPath` (a manifest path) is to be restored. */
  selects(relPath: string): boolean {
    if (!this.active) return true;
    const state = this.stateOf(relPath, this.folderState(parentOf(relPath)));
    return state.included && !state.excluded;
  }

  /** Counts a selected path of the check pass. */
  count(relPath: string): boolean {
    const selected = this.selects(relPath);
    if (selected) this.selectedCount++;
    return selected;
  }

  report(): SelectionReport {
    return {
      include: this.include.map((c) => c.pattern),
      exclude: this.exclude.map((c) => c.pattern),
      unmatched: this.include.filter((c) => !this.matched.has(c.pattern)).map((c) => c.pattern),
    };
  }

  /** Refuses a selection that selects nothing: an empty restore that "succeeds" hides a typo. */
  assertSomethingSelected(backupId: string): void {
    if (!this.active || this.selectedCount > 0) return;
    throw new BackupError('NOTHING_SELECTED', `No path of backup ${backupId} is selected by ${describeFilters(this.report())}; nothing was restored.`, {
      hint: 'Patterns match paths relative to the backup root (docs/report.pdf, not /srv/data/docs/report.pdf); a name without "/" matches at any depth. List the backup or widen the pattern.',
    });
  }

  private stateOf(relPath: string, parent: State): State {
    let included = parent.included;
    for (const c of this.include) {
      // Once the parent is included, only patterns not yet seen matching are still tried (for `unmatched`).
      if (included && this.matched.has(c.pattern)) continue;
      if (c.test(relPath)) {
        included = true;
        this.matched.add(c.pattern);
      }
    }
    const excluded = parent.excluded || this.exclude.some((c) => c.test(relPath));
    return { included, excluded };
  }

  private folderState(folder: string): State {
    if (folder === '') return { included: this.include.length === 0, excluded: false };
    const chain = this.chain;
    while (chain.length > 0 && folder !== chain[chain.length - 1].path && !folder.startsWith(`${chain[chain.length - 1].path}/`)) chain.pop();
    const top = chain[chain.length - 1];
    if (top?.path === folder) return top.state;
    const state = this.stateOf(folder, this.folderState(parentOf(folder)));
    chain.push({ path: folder, state });
    return state;
  }
}

/** `include docs, *.pdf; exclude *.log`: the filters as a person reads them (CLI and node alike). */
export function describeFilters(selection: Pick<SelectionReport, 'include' | 'exclude'>): string {
  const parts: string[] = [];
  if (selection.include.length > 0) parts.push(`include ${selection.include.join(', ')}`);
  if (selection.exclude.length > 0) parts.push(`exclude ${selection.exclude.join(', ')}`);
  return parts.join('; ');
}
