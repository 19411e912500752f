import { LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { SpiffeError, SpiffeId, TrustDomain } from '../spiffe/index.js';
import { parseDuration } from './duration.js';
import { dnsNameProblem, entryId, MAX_HINT_BYTES, MAX_SPIFFE_ID_BYTES, type Entry } from './entry.js';
import { RegistryError } from './errors.js';
import { parseSelector } from './selector.js';
import { postureSchema, type Posture } from './posture.js';
import { listProblems, locate, typeError, unknownKeys, where, yamlValue, type YamlProblem } from './yaml-problems.js';

/**
 * The entries file: YAML, `entries:` a list of entries, each key checked by one zod schema
 * (unknown keys refused by name). Every problem is reported as `file:line:col: where: reason`,
 * the position of the offending value (or of the entry that lacks a key), found through the YAML
 * document's nodes. An empty file, or `entries: []`, is an empty set.
 */


type Check<T> = (value: T) => string | undefined;

/** A string field parsed by `parse`, whose own error (RegistryError, SpiffeError) is the reason. */
function parsed<T>(parse: (text: string) => T, what: string) {
  return z.string({ error: typeError(what) }).transform((text, ctx): T => {
    try {
      return parse(text);
    } catch (err) {
      if (!(err instanceof RegistryError) && !(err instanceof SpiffeError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
      return z.NEVER;
    }
  });
}

function checked<T>(schema: z.ZodType<T>, check: Check<T>) {
  return schema.superRefine((value, ctx) => {
    const problem = check(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
}

const ttl = z.union([z.string(), z.number()], { error: typeError('a duration ("1h", "5m", "1h30m") or seconds') })
  .transform((value, ctx) => {
    try {
      return parseDuration(value);
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
      return z.NEVER;
    }
  });

function spiffeIdIn(trustDomain: TrustDomain | undefined): Check<SpiffeId> {
  return (id) => {
    if (id.isRoot()) return `${id.toString()} is a trust domain's own ID: a workload's SPIFFE ID needs a path`;
    if (Buffer.byteLength(id.toString()) > MAX_SPIFFE_ID_BYTES) return `a SPIFFE ID may be at most ${MAX_SPIFFE_ID_BYTES} bytes`;
    if (trustDomain !== undefined && !id.memberOf(trustDomain)) {
      return `${id.toString()} is not in this agent's trust domain ${trustDomain.name}: it could not be minted`;
    }
    return undefined;
  };
}

const ENTRY_KEYS = ['spiffeId', 'selectors', 'x509SvidTtl', 'jwtSvidTtl', 'dnsNames', 'hint', 'federatesWith', 'posture'] as const;

function entrySchema(trustDomain: TrustDomain | undefined) {
  const list = <T extends z.ZodType>(item: T, what: string) => z.array(item, { error: typeError(`a list of ${what}`) });
  return z.strictObject({
    spiffeId: checked(parsed(SpiffeId.parse, 'a SPIFFE ID'), spiffeIdIn(trustDomain)),
    selectors: list(parsed(parseSelector, 'a selector "type:key:value"'), 'selectors')
      .min(1, 'an entry needs at least one selector (an entry without any would match every workload)'),
    x509SvidTtl: ttl.optional(),
    jwtSvidTtl: ttl.optional(),
    dnsNames: list(checked(z.string({ error: typeError('a DNS name') }), dnsNameProblem), 'DNS names').default([]),
    hint: checked(z.string({ error: typeError('a string') }), (h) => {
      if (h === '') return 'an empty hint: leave the key out instead';
      return Buffer.byteLength(h) > MAX_HINT_BYTES ? `a hint is at most ${MAX_HINT_BYTES} bytes` : undefined;
    }).optional(),
    federatesWith: list(parsed(TrustDomain.parse, 'a trust domain name'), 'trust domain names').default([]),
    posture: postureSchema().optional(),
  }, { error: unknownKeys(ENTRY_KEYS, 'a mapping of entry keys') });
}

function fileSchema(trustDomain: TrustDomain | undefined) {
  return z.strictObject({
    entries: z.array(entrySchema(trustDomain), { error: typeError('a list of entries') }).nullish(),
  }, { error: unknownKeys(['entries'], 'a mapping with an "entries" list') });
}


/** The entries of one file's text; throws RegistryError('BAD_ENTRIES') listing every problem. */
export function parseEntriesFile(text: string, path: string, trustDomain?: TrustDomain): Entry[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw badFile(path, doc.errors.map((e) => ({ ...lines.linePos(e.pos[0]), text: `YAML: ${e.message}` })));
  }
  const result = fileSchema(trustDomain).safeParse(valueOf(doc, path) ?? {});
  if (!result.success) {
    throw badFile(path, result.error.issues.map((issue) => {
      const key = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
      return { ...locate(doc, lines, issue.path, key), text: `${where(issue.path, key)}: ${issue.message}` };
    }));
  }
  const entries = (result.data.entries ?? []).map((raw, i): Entry => {
    const selectors = [...new Set(raw.selectors)].sort();
    return {
      id: entryId(raw.spiffeId, selectors), spiffeId: raw.spiffeId, selectors,
      x509SvidTtlSeconds: raw.x509SvidTtl, jwtSvidTtlSeconds: raw.jwtSvidTtl, dnsNames: raw.dnsNames, hint: raw.hint,
      federatesWith: raw.federatesWith, posture: raw.posture as Posture | undefined, line: locate(doc, lines, ['entries', i]).line,
    };
  });
  const duplicates = findDuplicates(entries).map(([first, again]) => ({
    ...locate(doc, lines, ['entries', again]),
    text: `entries[${again}]: the same spiffeId and selectors as entries[${first}] (line ${entries[first]?.line ?? '?'})`,
  }));
  if (duplicates.length > 0) throw badFile(path, duplicates);
  return entries;
}


/** Pairs of [first index, later index] with one id: the same SPIFFE ID for the same selectors. */
function findDuplicates(entries: readonly Entry[]): Array<[number, number]> {
  const seen = new Map<string, number>();
  const out: Array<[number, number]> = [];
  entries.forEach((e, i) => {
    const first = seen.get(e.id);
    if (first === undefined) seen.set(e.id, i);
    else out.push([first, i]);
  });
  return out;
}



/**
 * Line and column of the value at `path` (of the key `key` in the mapping there, for an unknown
 * key); when nothing is there (a missing key), of the nearest enclosing node that is.
 */

/** The document's value, or the problem that refuses the whole file. */
function valueOf(doc: Document, path: string): unknown {
  const v = yamlValue(doc);
  if (!v.ok) throw badFile(path, [v.problem]);
  return v.value;
}

function badFile(path: string, problems: readonly YamlProblem[]): RegistryError {
  const { message, line } = listProblems(path, problems);
  return new RegistryError('BAD_ENTRIES', message, { file: path, line });
}
