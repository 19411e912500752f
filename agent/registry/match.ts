import type { Entry } from './entry.js';

export interface MatchExplanation {
  readonly entry: Entry;
  readonly matched: boolean;
  /** The entry's selectors the workload does not have; empty when it matched. */
  readonly missing: string[];
}

/**
 * The entries a workload gets: those whose every selector is in its attested set (SPIRE's rule:
 * the workload's set is a superset of the entry's). In file order, which is the order of SVIDs in
 * a response: the first is the workload's default identity.
 */
export function matchEntries(entries: readonly Entry[], selectors: ReadonlySet<string>): Entry[] {
  return entries.filter((e) => matches(e, selectors));
}

/** For every entry: whether it matched, and if not, which of its selectors were missing. */
export function explainMatch(entries: readonly Entry[], selectors: ReadonlySet<string>): MatchExplanation[] {
  return entries.map((entry) => ({
    entry, matched: matches(entry, selectors), missing: entry.selectors.filter((s) => !selectors.has(s)),
  }));
}

// An entry without selectors never matches: "every" of nothing is true, and would hand its
// identity to every process on the host. The file parser refuses one; this holds regardless.
function matches(entry: Entry, selectors: ReadonlySet<string>): boolean {
  return entry.selectors.length > 0 && entry.selectors.every((s) => selectors.has(s));
}
