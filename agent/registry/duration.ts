import { RegistryError } from './errors.js';

/**
 * SVID lifetimes in the entries file: "1h", "5m", "30s", "1h30m" (units h, m, s, largest first,
 * each at most once, whole numbers), or a bare number of seconds ("90", or 90 in YAML).
 */
const UNITS = { h: 3600, m: 60, s: 1 } as const;
const SPELLED = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const SECONDS = /^\d+$/;

/** Seconds, a positive safe integer; throws RegistryError('BAD_DURATION') naming the rule. */
export function parseDuration(input: string | number): number {
  const seconds = typeof input === 'number' ? checkNumber(input) : parseText(input);
  if (seconds <= 0) throw bad(input, 'must be longer than zero');
  if (!Number.isSafeInteger(seconds)) throw bad(input, 'is too long');
  return seconds;
}

/** The shortest spelling parseDuration reads back: 5400 → "1h30m", 90 → "1m30s". */
export function formatDuration(seconds: number): string {
  let left = seconds;
  let out = '';
  for (const [unit, size] of Object.entries(UNITS)) {
    const n = Math.floor(left / size);
    if (n > 0) out += `${n}${unit}`;
    left -= n * size;
  }
  return out === '' ? '0s' : out;
}

function checkNumber(n: number): number {
  if (!Number.isInteger(n)) throw bad(n, 'must be a whole number of seconds');
  return n;
}

function parseText(text: string): number {
  if (SECONDS.test(text)) return Number(text);
  const m = SPELLED.exec(text);
  if (text === '' || m === null) {
    throw bad(text, 'is not a duration: write whole h, m and s, largest first ("1h30m", "5m", "30s"), or seconds ("90")');
  }
  const [, h, min, s] = m;
  return Number(h ?? 0) * UNITS.h + Number(min ?? 0) * UNITS.m + Number(s ?? 0) * UNITS.s;
}

function bad(input: string | number, rule: string): RegistryError {
  return new RegistryError('BAD_DURATION', `${JSON.stringify(input)} ${rule}`);
}
