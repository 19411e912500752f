import { LineCounter, parseDocument, stringify } from 'yaml';
import { z } from 'zod';
import { formatCidr, parseCidr, type Cidr } from '../enforce/index.js';
import { listProblems, locate, typeError, where, yamlValue } from '../registry/index.js';
import { SpiffeId, type TrustDomain } from '../spiffe/index.js';
import { ProfileError } from './errors.js';

/**
 * One identity's behaviour profile: a YAML file people read, review and commit. What its
 * processes exec (by file identity: path for people, device and inode for the kernel, so a copied
 * or renamed binary is another file), where they connect (a peer identity or a CIDR, and a port)
 * and the ports they listen on; the mode; when learning began and ends. A file with any problem is
 * refused whole, every problem as `file:line:col: where: reason`.
 */
export type ProfileModeName = 'learn' | 'monitor' | 'enforce';

export interface ProfileExecutable {
  /** The canonical path when learned: for people; the kernel matches dev and ino. */
  readonly path: string;
  /** super_block->s_dev packing (major << 20 | minor), written "major:minor". */
  readonly dev: number;
  readonly ino: bigint;
}

export type ProfileDestination =
  | { readonly kind: 'identity'; readonly id: SpiffeId; readonly port: number }
  | { readonly kind: 'cidr'; readonly cidr: Cidr; readonly port: number };

export interface Profile {
  readonly id: SpiffeId;
  readonly mode: ProfileModeName;
  /** Learning began; ends at `until` (null: until told), then the mode becomes monitor. */
  readonly learning: { readonly since: Date; readonly until: Date | null };
  readonly executables: readonly ProfileExecutable[];
  readonly destinations: readonly ProfileDestination[];
  readonly listens: readonly number[];
}

const MODES = ['learn', 'monitor', 'enforce'] as const;

function unknownKeys(known: readonly string[], what: string) {
  return (issue: { code?: string; keys?: string[]; input?: unknown }): string | undefined => {
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue.keys ?? []).map((k) => `"${k}"`);
      return `unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')} (known: ${known.join(', ')})`;
    }
    return issue.code === 'invalid_type' ? typeError(what)(issue) : undefined;
  };
}
const DEV = /^(\d{1,4}):(\d{1,7})$/;

const port = z.number({ error: typeError('a port 1-65535') }).int().min(1, 'a port is 1-65535').max(65535, 'a port is 1-65535');
const date = z.string({ error: typeError('an ISO 8601 time') }).refine((s) => !Number.isNaN(Date.parse(s)), 'not an ISO 8601 time');

const executable = z.strictObject({
  path: z.string({ error: typeError('an absolute path') }).startsWith('/', 'an absolute path'),
  dev: z.string({ error: typeError('a device "major:minor"') }).refine((s) => {
    const m = DEV.exec(s);
    return m !== null && Number(m[1]) <= 0xfff && Number(m[2]) <= 0xfffff;
  }, 'a device "major:minor" (major ≤ 4095, minor ≤ 1048575)'),
  ino: z.union([z.number().int().positive(), z.string().regex(/^\d+$/)], { error: typeError('an inode number') }),
}, { error: unknownKeys(['path', 'dev', 'ino'], 'a mapping with "path", "dev" and "ino"') });

const destination = z.strictObject({
  to: z.string({ error: typeError('a SPIFFE ID or a CIDR') }),
  port,
}, { error: unknownKeys(['to', 'port'], 'a mapping with "to" and "port"') });

const PROFILE_KEYS = ['id', 'mode', 'learning', 'executables', 'destinations', 'listens'] as const;
const schema = z.strictObject({
  id: z.string({ error: typeError('a SPIFFE ID') }),
  mode: z.enum(MODES, { error: typeError('"learn", "monitor" or "enforce"') }),
  learning: z.strictObject({ since: date, until: date.nullable() },
    { error: unknownKeys(['since', 'until'], 'a mapping with "since" and "until"') }),
  executables: z.array(executable, { error: typeError('a list of executables') }).nullish(),
  destinations: z.array(destination, { error: typeError('a list of destinations') }).nullish(),
  listens: z.array(port, { error: typeError('a list of ports') }).nullish(),
}, { error: unknownKeys(PROFILE_KEYS, 'a mapping with "id", "mode" and "learning"') });

/** The profile in one file's text; throws ProfileError('BAD_PROFILE') listing every problem. */
export function parseProfile(text: string, path: string, trustDomain?: TrustDomain): Profile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) throw bad(path, doc.errors.map((e) => ({ ...lines.linePos(e.pos[0]), text: `YAML: ${e.message}` })));
  const value = yamlValue(doc);
  if (!value.ok) throw bad(path, [value.problem]);
  const result = schema.safeParse(value.value ?? {});
  if (!result.success) {
    throw bad(path, result.error.issues.map((issue) => {
      const key = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
      return { ...locate(doc, lines, issue.path, key), text: `${where(issue.path, key)}: ${issue.message}` };
    }));
  }
  const problems: Array<{ line: number; col: number; text: string }> = [];
  const problem = (at: PropertyKey[], text: string): void => { problems.push({ ...locate(doc, lines, at), text: `${where(at)}: ${text}` }); };
  const data = result.data;
  let id: SpiffeId | undefined;
  try {
    id = SpiffeId.parse(data.id);
    if (trustDomain !== undefined && !id.trustDomain.equals(trustDomain)) problem(['id'], `not in this agent's trust domain ${trustDomain.name}`);
  } catch (err) {
    problem(['id'], (err as Error).message);
  }
  const destinations = (data.destinations ?? []).flatMap((d, i): ProfileDestination[] => {
    if (d.to.startsWith('spiffe://')) {
      try {
        return [{ kind: 'identity', id: SpiffeId.parse(d.to), port: d.port }];
      } catch (err) {
        problem(['destinations', i, 'to'], (err as Error).message);
        return [];
      }
    }
    const cidr = parseCidr(d.to);
    if (cidr.ok) return [{ kind: 'cidr', cidr: cidr.value, port: d.port }];
    problem(['destinations', i, 'to'], `a SPIFFE ID or a CIDR: ${cidr.reason}`);
    return [];
  });
  const since = new Date(data.learning.since);
  const until = data.learning.until === null ? null : new Date(data.learning.until);
  if (until !== null && until < since) problem(['learning', 'until'], 'before "since"');
  if (problems.length > 0 || id === undefined) throw bad(path, problems);
  return {
    id, mode: data.mode, learning: { since, until }, destinations, listens: [...new Set(data.listens ?? [])].sort((a, b) => a - b),
    executables: (data.executables ?? []).map((e) => {
      const [, major, minor] = DEV.exec(e.dev) as RegExpExecArray;
      return { path: e.path, dev: (Number(major) << 20) | Number(minor), ino: BigInt(e.ino) };
    }),
  };
}

function bad(path: string, problems: ReadonlyArray<{ line: number; col: number; text: string }>): ProfileError {
  const { message, line } = listProblems(path, problems);
  return new ProfileError('BAD_PROFILE', message, { line });
}

/** "major:minor" of a kernel s_dev. */
export function formatDev(dev: number): string {
  return `${dev >>> 20}:${dev & 0xfffff}`;
}

export function formatDestination(d: ProfileDestination): string {
  return `${d.kind === 'identity' ? d.id.toString() : formatCidr(d.cidr)}:${d.port}`;
}

/** The file's text: what parseProfile reads back to the same profile. */
export function formatProfile(p: Profile): string {
  const body = {
    id: p.id.toString(),
    mode: p.mode,
    learning: { since: p.learning.since.toISOString(), until: p.learning.until?.toISOString() ?? null },
    executables: p.executables.map((e) => ({ path: e.path, dev: formatDev(e.dev), ino: Number(e.ino) })),
    destinations: p.destinations.map((d) => ({ to: d.kind === 'identity' ? d.id.toString() : formatCidr(d.cidr), port: d.port })),
    listens: [...p.listens],
  };
  return `# Behaviour profile of ${p.id.toString()} (tether). Review and commit it; edit it by hand or with\n` +
    '# `tether profile mode|accept`. mode: learn | monitor | enforce. A file with errors is refused whole.\n' +
    stringify(body, { lineWidth: 0 });
}
