import { LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { listProblems, locate, typeError, where, yamlValue, type YamlProblem } from '../registry/index.js';
import type { TrustDomain } from '../spiffe/index.js';
import { EnforceError } from './errors.js';
import { parseCidr, parseIdPattern, parsePortRange, type Cidr, type IdPattern, type Parsed, type PortRange } from './policy-values.js';

/**
 * The policy file: YAML checked by one zod schema (unknown keys refused by name), the same way
 * registry/'s entries file is. A bad policy is refused whole, every problem as
 * `file:line:col: where: reason`; the caller swaps a good one in whole, so no half policy runs.
 * `mode` is required (a file must say whether it enforces); `unidentified` defaults to allow,
 * `rules` to none. Identified workloads may do only what a rule allows.
 */

export interface PolicyRule {
  /** 1-based line where the rule starts, for audit events and `tether policy` output. */
  readonly line: number;
  readonly from: IdPattern;
  readonly to: { readonly kind: 'identity'; readonly pattern: IdPattern } | { readonly kind: 'external'; readonly cidrs: readonly Cidr[] };
  /** [] = any port. */
  readonly ports: readonly PortRange[];
}

export interface Policy {
  readonly mode: 'enforce' | 'audit';
  readonly unidentified: 'allow' | 'deny';
  readonly rules: readonly PolicyRule[];
}

const EXTERNAL = 'external' as const;

/** A value made by `parse`, whose refusal reason becomes the issue's message. */
function parsed<I, T>(schema: z.ZodType<I>, parse: (value: I) => Parsed<T>) {
  return schema.transform((value, ctx): T => {
    const result = parse(value);
    if (result.ok) return result.value;
    ctx.addIssue({ code: 'custom', message: result.reason });
    return z.NEVER;
  });
}

const PATTERN = 'a SPIFFE ID or pattern "spiffe://td/path/*"';

/** A rule's workload: an ID or pattern, in the agent's trust domain when one is given. */
function fromPattern(trustDomain: TrustDomain | undefined) {
  return parsed(z.string({ error: typeError(PATTERN) }), (text): Parsed<IdPattern> => {
    if (text === EXTERNAL) return { ok: false, reason: '"external" is only a target ("to"): a rule is from a workload' };
    const result = parseIdPattern(text);
    if (!result.ok || trustDomain === undefined) return result;
    const td = result.value.kind === 'exact' ? result.value.id.trustDomain : result.value.trustDomain;
    return td.equals(trustDomain) ? result
      : { ok: false, reason: `${text} is not in this agent's trust domain ${trustDomain.name}: no workload here has it` };
  });
}

/** A rule's target: an ID or pattern (in any trust domain: federated peers), or "external". */
function toTarget() {
  return parsed(z.string({ error: typeError(`${PATTERN} or "external"`) }),
    (text): Parsed<IdPattern | typeof EXTERNAL> => (text === EXTERNAL ? { ok: true, value: EXTERNAL } : parseIdPattern(text)));
}

function unknownKeys(known: readonly string[], what: string) {
  return (issue: { code?: string; keys?: string[]; input?: unknown }): string | undefined => {
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue.keys ?? []).map((k) => `"${k}"`);
      return `unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')} (known: ${known.join(', ')})`;
    }
    return issue.code === 'invalid_type' ? typeError(what)(issue) : undefined;
  };
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T, missing?: string) {
  const listed = values.map((v) => `"${v}"`).join(' or ');
  return z.enum(values, {
    error: (issue) => (issue.input === undefined && missing !== undefined ? missing : typeError(listed)(issue)),
  });
}

const RULE_KEYS = ['from', 'to', 'cidrs', 'ports'] as const;

function ruleSchema(trustDomain: TrustDomain | undefined) {
  return z.strictObject({
    from: fromPattern(trustDomain),
    to: toTarget(),
    cidrs: z.array(parsed(z.string({ error: typeError('a CIDR "10.0.0.0/8"') }), parseCidr),
      { error: typeError('a list of CIDRs') }).optional(),
    ports: z.array(parsed(z.union([z.number(), z.string()], { error: typeError('a port or range "8000-8100"') }), parsePortRange),
      { error: typeError('a list of ports') }).default([]),
  }, { error: unknownKeys(RULE_KEYS, 'a mapping of rule keys') });
}

const POLICY_KEYS = ['mode', 'unidentified', 'rules'] as const;

function policySchema(trustDomain: TrustDomain | undefined) {
  return z.strictObject({
    mode: oneOf(['enforce', 'audit'], 'required: a policy says whether it enforces ("enforce") or only reports ("audit")'),
    unidentified: oneOf(['allow', 'deny']).default('allow'),
    rules: z.array(ruleSchema(trustDomain), { error: typeError('a list of rules') }).nullish(),
  }, { error: unknownKeys(POLICY_KEYS, 'a mapping with "mode" and "rules"') });
}


/** The policy in one file's text; throws EnforceError('BAD_POLICY') listing every problem. */
export function parsePolicy(text: string, path: string, trustDomain?: TrustDomain): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw badPolicy(path, doc.errors.map((e) => ({ ...lines.linePos(e.pos[0]), text: `YAML: ${e.message}` })));
  }
  const raw = valueOf(doc, path) ?? {};
  const result = policySchema(trustDomain).safeParse(raw);
  const problems = targetProblems(raw).map(({ at, text: reason }) => ({ ...locate(doc, lines, at), text: `${where(at)}: ${reason}` }));
  if (!result.success) {
    problems.push(...result.error.issues.map((issue) => {
      const key = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
      return { ...locate(doc, lines, issue.path, key), text: `${where(issue.path, key)}: ${issue.message}` };
    }));
  }
  if (problems.length > 0 || !result.success) throw badPolicy(path, problems);
  const rules = (result.data.rules ?? []).map((rule, i): PolicyRule => ({
    line: locate(doc, lines, ['rules', i]).line,
    from: rule.from,
    to: typeof rule.to === 'string' ? { kind: 'external', cidrs: rule.cidrs ?? [] } : { kind: 'identity', pattern: rule.to },
    ports: rule.ports,
  }));
  return { mode: result.data.mode, unidentified: result.data.unidentified, rules };
}

/**
 * `to: external` needs a non-empty `cidrs`; an identity target takes none. Checked on the raw
 * value so these problems are listed alongside the schema's, even when a field beside them fails.
 */
function targetProblems(raw: unknown): Array<{ at: PropertyKey[]; text: string }> {
  const rules = (raw as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(rules)) return [];
  return rules.flatMap((rule: unknown, i) => {
    if (rule === null || typeof rule !== 'object' || Array.isArray(rule)) return [];
    const { to, cidrs } = rule as { to?: unknown; cidrs?: unknown };
    if (to === EXTERNAL && (cidrs === undefined || (Array.isArray(cidrs) && cidrs.length === 0))) {
      return [{ at: ['rules', i, ...(cidrs === undefined ? [] : ['cidrs'])],
        text: 'a rule to "external" needs "cidrs": the addresses it may reach (0.0.0.0/0 and ::/0 for anywhere)' }];
    }
    if (typeof to === 'string' && to !== EXTERNAL && cidrs !== undefined) {
      return [{ at: ['rules', i, 'cidrs'], text: '"cidrs" is only for a rule to "external": an identity is reached wherever it runs' }];
    }
    return [];
  });
}

/** The document's value, or the problem that refuses the whole file. */
function valueOf(doc: Document, path: string): unknown {
  const v = yamlValue(doc);
  if (!v.ok) throw badPolicy(path, [v.problem]);
  return v.value;
}

function badPolicy(path: string, problems: readonly YamlProblem[]): EnforceError {
  const { message, line } = listProblems(path, problems);
  return new EnforceError('BAD_POLICY', message, { file: path, line });
}
