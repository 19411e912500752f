import { isMap, isPair, isScalar, type Document, type LineCounter } from 'yaml';

/**
 * How the agent's YAML files (entries here, and enforce/'s policy) report what is wrong: every
 * problem at its line and column, `file:line:col: where: reason`, sorted, at most 20.
 */
export interface YamlProblem {
  readonly line: number;
  readonly col: number;
  readonly text: string;
}

const MAX_PROBLEMS = 20;

/** The problems as one message, and the line of the first (for the error's `line`). */
export function listProblems(path: string, problems: readonly YamlProblem[]): { message: string; line: number } {
  const sorted = [...problems].sort((a, b) => a.line - b.line || a.col - b.col);
  const shown = sorted.slice(0, MAX_PROBLEMS).map((p) => `${path}:${p.line}:${p.col}: ${p.text}`);
  if (sorted.length > MAX_PROBLEMS) shown.push(`${path}: and ${sorted.length - MAX_PROBLEMS} more problems`);
  return { message: shown.join('\n'), line: sorted[0]?.line ?? 1 };
}

/** The document's value; an alias expanding past the limit (a "billion laughs" file) is a problem. */
export function yamlValue(doc: Document): { ok: true; value: unknown } | { ok: false; problem: YamlProblem } {
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) };
  } catch (err) {
    return { ok: false, problem: { line: 1, col: 1, text: `YAML: ${(err as Error).message}` } };
  }
}

/** "entries[1].selectors[0]"; the top level is "(top level)". */
export function where(path: readonly PropertyKey[], key?: string): string {
  const full = key === undefined ? path : [...path, key];
  const text = full.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
  return text === '' ? '(top level)' : text;
}

/**
 * Line and column of the value at `path` (of the key `key` in the mapping there, for an unknown
 * key); when nothing is there (a missing key), of the nearest enclosing node that is.
 */
export function locate(doc: Document, lines: LineCounter, path: readonly PropertyKey[], key?: string): { line: number; col: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    const target = n === path.length && key !== undefined && isMap(node)
      ? node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key)?.key ?? node
      : node;
    const range = (target as { range?: [number, number, number] } | null | undefined)?.range;
    if (range !== undefined) return lines.linePos(range[0]);
  }
  return { line: 1, col: 1 };
}

/** A zod error for a value of the wrong type, in the files' wording: "required", or
 * "expected <what>, got <the value's kind>". */
export function typeError(what: string) {
  return (issue: { input?: unknown }): string =>
    issue.input === undefined ? 'required' : `expected ${what}, got ${describeValue(issue.input)}`;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** A strict zod object's error: unknown keys refused by name (with the known ones), a wrong type in the files' wording. */
export function unknownKeys(known: readonly string[], what: string) {
  return (issue: { code?: string; keys?: string[]; input?: unknown }): string | undefined => {
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue.keys ?? []).map((k) => `"${k}"`);
      return `unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')} (known: ${known.join(', ')})`;
    }
    return issue.code === 'invalid_type' ? typeError(what)(issue) : undefined;
  };
}
