import { RegistryError } from './errors.js';

/**
 * Selectors as SPIRE writes them, `type:key:value`, parsed into the one canonical spelling that
 * attest/ produces for a caller. An entry matches by string equality, so a selector that could
 * never be produced (a typo in a type or key, an upper-case digest, "//" in a path) is refused
 * here rather than left to silently never match.
 */

type Rule = (value: string) => string; // the canonical value, or throws the rule's message

const HEX64 = /^[0-9a-f]{64}$/;
// A pod UID as the API server spells it (RFC 4122, lower case), or a static pod's 32-hex
// manifest hash: attest/ reports what the kubelet named the pod's cgroup.
const POD_UID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;
const DECIMAL = /^\d+$/;
// uid_t and gid_t are 32-bit; (uid_t)-1 means "no id" to every syscall that takes one.
const MAX_ID = 0xffff_fffe;

class RuleBroken extends Error {}

const decimalId: Rule = (v) => {
  if (!DECIMAL.test(v)) throw new RuleBroken('must be a decimal number');
  const n = Number(v);
  if (n > MAX_ID) throw new RuleBroken(`must be at most ${MAX_ID}`);
  return String(n); // "01000" and "1000" are one id: the kernel reports the latter
};

// Names in /etc/passwd and /etc/group: ':' separates their fields, so it is never in a name.
const accountName: Rule = (v) => {
  if (/[:\s\p{Cc}]/u.test(v)) throw new RuleBroken('must be a user or group name (no ":", spaces or control characters)');
  return v;
};

// The kernel reports paths normalized (d_path, cgroup names): any other spelling never matches.
const absolutePath: Rule = (v) => {
  if (!v.startsWith('/')) throw new RuleBroken('must be an absolute path');
  if (v.includes('\0')) throw new RuleBroken('must not contain NUL');
  if (v === '/') return v;
  if (v.endsWith('/')) throw new RuleBroken('must not end in "/"');
  if (v.slice(1).split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new RuleBroken('must be normalized (no "//", "." or ".." segments), as the kernel reports it');
  }
  return v;
};

const hex64 = (what: string): Rule => (v) => {
  if (!HEX64.test(v)) throw new RuleBroken(`must be ${what}: 64 lower-case hex digits`);
  return v;
};

const podUid: Rule = (v) => {
  if (!POD_UID.test(v)) throw new RuleBroken('must be a lower-case UUID (or a static pod\'s 32-hex UID)');
  return v;
};

/** Every selector tether produces, by type and key. */
const RULES: Readonly<Record<string, Readonly<Record<string, Rule>>>> = {
  unix: {
    uid: decimalId, gid: decimalId, user: accountName, group: accountName, path: absolutePath,
    sha256: hex64('a SHA-256 digest'),
  },
  cgroup: { path: absolutePath },
  container: { id: hex64('a container ID') },
  k8s: { 'pod-uid': podUid },
  // An ancestor (parent, grandparent, ...) of the workload runs this executable.
  lineage: { path: absolutePath },
};

export const SELECTOR_TYPES: readonly string[] = Object.keys(RULES);

/**
 * `type:key:value` → its canonical spelling; throws RegistryError('BAD_SELECTOR') naming the
 * rule. Only the first two ':' split, so values (paths) may contain ':'.
 */
export function parseSelector(text: string): string {
  const first = text.indexOf(':');
  const second = first < 0 ? -1 : text.indexOf(':', first + 1);
  if (second < 0) throw bad(`"${text}" is not type:key:value (e.g. unix:uid:1000)`);
  const type = text.slice(0, first);
  const key = text.slice(first + 1, second);
  const value = text.slice(second + 1);
  const keys = Object.hasOwn(RULES, type) ? RULES[type] : undefined;
  if (keys === undefined) throw bad(`unknown selector type "${type}" (known: ${SELECTOR_TYPES.join(', ')})`);
  const rule = Object.hasOwn(keys, key) ? keys[key] : undefined;
  if (rule === undefined) throw bad(`unknown key "${key}" for type ${type} (known: ${Object.keys(keys).join(', ')})`);
  if (value === '') throw bad(`${type}:${key} needs a value`);
  try {
    return `${type}:${key}:${rule(value)}`;
  } catch (err) {
    if (err instanceof RuleBroken) throw bad(`${type}:${key} ${err.message}`);
    throw err;
  }
}

// The rule alone: whoever parses a file adds where the selector was (file, line, entry).
function bad(rule: string): RegistryError {
  return new RegistryError('BAD_SELECTOR', rule);
}
