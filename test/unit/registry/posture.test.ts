import { describe, expect, it } from 'vitest';
import { parseEntriesFile } from '../../../agent/registry/entries-file.js';
import { RegistryError } from '../../../agent/registry/errors.js';
import { sameEntries } from '../../../agent/registry/entry.js';
import { capabilityName, normalizeCapability, postureChecks } from '../../../agent/registry/posture.js';
import { TrustDomain } from '../../../agent/spiffe/index.js';

const FILE = 'entries.yaml';
const TD = TrustDomain.parse('example.org');

const ISSUE_EXAMPLE = `entries:
  - spiffeId: spiffe://example.org/web
    selectors: ["unix:uid:1000", "unix:path:/usr/bin/python3.11"]
    posture:
      exeImmutable: true
      noNewPrivs: true
      seccomp: filter
      maxCapabilities: []
      forbidExecutables: [sh, bash, curl, wget, apt, apk, pip]
      maxExecutables: 64
`;

function withPosture(block: string): string {
  return `entries:\n  - spiffeId: spiffe://example.org/web\n    selectors: ["unix:uid:1000"]\n    posture:\n${block}`;
}

function refusal(text: string): RegistryError {
  try {
    parseEntriesFile(text, FILE, TD);
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  }
  throw new Error('the file was accepted');
}

describe('posture blocks in the entries file', () => {
  it('reads the issue\'s example: every check, lists sorted', () => {
    const [web] = parseEntriesFile(ISSUE_EXAMPLE, FILE, TD);
    expect(web?.posture).toEqual({
      exeImmutable: true, noNewPrivs: true, seccomp: 'filter', maxCapabilities: [],
      forbidExecutables: ['apk', 'apt', 'bash', 'curl', 'pip', 'sh', 'wget'], maxExecutables: 64,
    });
    expect(postureChecks(web?.posture)).toEqual(['exeImmutable', 'noNewPrivs', 'seccomp', 'maxCapabilities', 'forbidExecutables', 'maxExecutables']);
  });

  it('leaves posture undefined without the key, and a false flag asks for no check', () => {
    const [plain] = parseEntriesFile('entries:\n  - spiffeId: spiffe://example.org/a\n    selectors: ["unix:uid:1"]\n', FILE, TD);
    expect(plain?.posture).toBeUndefined();
    const [off] = parseEntriesFile(withPosture('      noNewPrivs: false\n      seccomp: strict\n'), FILE, TD);
    expect(postureChecks(off?.posture)).toEqual(['seccomp']);
  });

  it('normalizes capability names: CAP_X, cap_x and x are one name, listed once', () => {
    const [web] = parseEntriesFile(withPosture('      maxCapabilities: [net_bind_service, CAP_NET_BIND_SERVICE, cap_chown]\n'), FILE, TD);
    expect(web?.posture?.maxCapabilities).toEqual(['CAP_CHOWN', 'CAP_NET_BIND_SERVICE']);
    expect(normalizeCapability('Sys_Admin')).toBe('CAP_SYS_ADMIN');
    expect(normalizeCapability('fly')).toBeUndefined();
    expect(capabilityName(21)).toBe('CAP_SYS_ADMIN');
    expect(capabilityName(40)).toBe('CAP_CHECKPOINT_RESTORE');
    expect(capabilityName(41)).toBe('CAP_41');
  });

  it.each([
    ['an unknown check, by name', '      exeImutable: true\n', 5, 'entries[0].posture.exeImutable: unknown key "exeImutable" (known: exeImmutable, noNewPrivs, seccomp, maxCapabilities, forbidExecutables, maxExecutables)'],
    ['a seccomp mode that does not exist', '      seccomp: filtered\n', 5, 'entries[0].posture.seccomp: expected one of disabled, strict, filter, got "filtered"'],
    ['an unknown capability', '      maxCapabilities: [net_bind_service, cap_fly]\n', 5, 'entries[0].posture.maxCapabilities[1]: "cap_fly" is not a Linux capability'],
    ['a path instead of a file name', '      forbidExecutables: [sh, /bin/bash]\n', 5, 'entries[0].posture.forbidExecutables[1]: "/bin/bash" is not a file name'],
    ['a negative count', '      maxExecutables: -1\n', 5, 'entries[0].posture.maxExecutables: a count cannot be negative'],
    ['a fractional count', '      maxExecutables: 1.5\n', 5, 'entries[0].posture.maxExecutables: a whole number of executable files'],
    ['a string flag', '      noNewPrivs: "yes"\n', 5, 'entries[0].posture.noNewPrivs: expected true or false'],
    ['a list instead of a mapping', '      - noNewPrivs\n', 5, 'entries[0].posture: expected a mapping of posture checks, got a list'],
    ['an empty mapping', '      {}\n', 5, 'entries[0].posture: an empty posture: leave the key out instead'],
  ])('refuses %s with its line and reason', (_name, block, line, reason) => {
    const err = refusal(withPosture(block));
    expect(err.code).toBe('BAD_ENTRIES');
    expect(err.line).toBe(line);
    expect(err.message).toContain(`${FILE}:${line}:`);
    expect(err.message).toContain(reason);
  });

  it('counts a posture change as a change of the entry set (its holders are judged again), with the same entry id', () => {
    const [a] = parseEntriesFile(withPosture('      noNewPrivs: true\n'), FILE, TD);
    const [b] = parseEntriesFile(withPosture('      noNewPrivs: true\n      seccomp: filter\n'), FILE, TD);
    const [c] = parseEntriesFile(withPosture('      noNewPrivs: true\n'), FILE, TD);
    expect(a?.id).toBe(b?.id);
    expect(sameEntries([a!], [b!])).toBe(false);
    expect(sameEntries([a!], [c!])).toBe(true);
  });
});
