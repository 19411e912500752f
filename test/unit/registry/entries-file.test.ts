import { describe, expect, it } from 'vitest';
import { parseEntriesFile } from '../../../agent/registry/entries-file.js';
import { RegistryError } from '../../../agent/registry/errors.js';
import { TrustDomain } from '../../../agent/spiffe/index.js';

const FILE = 'entries.yaml';
const TD = TrustDomain.parse('example.org');

/** The error parseEntriesFile throws for `text`; fails the test if it throws none. */
function refusal(text: string, trustDomain?: TrustDomain): RegistryError {
  try {
    parseEntriesFile(text, FILE, trustDomain);
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  }
  throw new Error('the file was accepted');
}

const GOOD = `# two workloads
entries:
  - spiffeId: spiffe://example.org/web
    selectors: ["unix:uid:1000", "unix:path:/usr/bin/python3.11"]   # all must match
    x509SvidTtl: 1h
    jwtSvidTtl: 5m
    dnsNames: [web.local, "*.web.example.org"]
    hint: internal
    federatesWith: [partner.example, "spiffe://other.example"]

  - spiffeId: spiffe://example.org/db
    selectors:
      - cgroup:path:/system.slice/postgresql.service
`;

describe('parseEntriesFile', () => {
  it('reads every field of the issue\'s example, with the line each entry starts on', () => {
    const [web, db, ...rest] = parseEntriesFile(GOOD, FILE, TD);
    expect(rest).toEqual([]);
    expect(web).toMatchObject({
      selectors: ['unix:path:/usr/bin/python3.11', 'unix:uid:1000'], x509SvidTtlSeconds: 3600, jwtSvidTtlSeconds: 300,
      dnsNames: ['web.local', '*.web.example.org'], hint: 'internal', line: 3,
    });
    expect(web?.spiffeId.toString()).toBe('spiffe://example.org/web');
    expect(web?.federatesWith.map((td) => td.name)).toEqual(['partner.example', 'other.example']);
    expect(web?.id).toMatch(/^[0-9a-f]{16}$/);
    expect(db).toMatchObject({
      selectors: ['cgroup:path:/system.slice/postgresql.service'], x509SvidTtlSeconds: undefined, jwtSvidTtlSeconds: undefined,
      dnsNames: [], hint: undefined, federatesWith: [], line: 11,
    });
  });

  it.each([
    ['an empty file', ''],
    ['only comments', '# nothing yet\n'],
    ['an empty list', 'entries: []\n'],
    ['an empty entries key', 'entries:\n'],
    ['an empty mapping', '{}\n'],
  ])('reads %s as no entries', (_name, text) => {
    expect(parseEntriesFile(text, FILE, TD)).toEqual([]);
  });

  it('gives an entry an id from its SPIFFE ID and selectors only: stable across order, TTL and hint edits', () => {
    const one = parseEntriesFile('entries:\n  - spiffeId: spiffe://example.org/a\n    selectors: [unix:uid:1, unix:gid:2]\n', FILE);
    const moved = parseEntriesFile(`# moved down\n\nentries:\n  - spiffeId: spiffe://example.org/a
    selectors: [unix:gid:2, unix:uid:01]\n    x509SvidTtl: 90\n    hint: h\n`, FILE);
    const other = parseEntriesFile('entries:\n  - spiffeId: spiffe://example.org/b\n    selectors: [unix:uid:1, unix:gid:2]\n', FILE);
    const more = parseEntriesFile('entries:\n  - spiffeId: spiffe://example.org/a\n    selectors: [unix:uid:1, unix:gid:2, unix:gid:3]\n', FILE);
    expect(moved[0]?.id).toBe(one[0]?.id);
    expect(moved[0]?.line).toBe(4);
    expect(other[0]?.id).not.toBe(one[0]?.id);
    expect(more[0]?.id).not.toBe(one[0]?.id);
  });

  it('keeps a selector listed twice once', () => {
    const [e] = parseEntriesFile('entries:\n  - spiffeId: spiffe://example.org/a\n    selectors: [unix:uid:1, "unix:uid:1"]\n', FILE);
    expect(e?.selectors).toEqual(['unix:uid:1']);
  });

  it('accepts any trust domain when none is given', () => {
    expect(parseEntriesFile('entries:\n  - spiffeId: spiffe://elsewhere.test/a\n    selectors: [unix:uid:1]\n', FILE)).toHaveLength(1);
  });
});

const ENTRY = '  - spiffeId: spiffe://example.org/web\n    selectors: ["unix:uid:1000"]\n';

describe('parseEntriesFile refuses, naming the file, line, column, where and why', () => {
  it('writes the issue\'s example message', () => {
    const err = refusal(`entries:\n${ENTRY}  - spiffeId: spiffe://example.org/api\n    selectors:\n      - unix:uid:1\n      - unx:uid:1000\n`);
    expect(err.message).toBe('entries.yaml:7:9: entries[1].selectors[1]: unknown selector type "unx" (known: unix, cgroup, container, k8s, lineage)');
    expect(err).toMatchObject({ code: 'BAD_ENTRIES', file: FILE, line: 7 });
  });

  it.each([
    // [name, file text, line, where and reason]
    ['an unknown selector type', `entries:\n${ENTRY}  - spiffeId: spiffe://example.org/a\n    selectors: [unx:uid:1000]\n`, 5,
      'entries[1].selectors[0]: unknown selector type "unx"'],
    ['an unknown selector key', `entries:\n  - spiffeId: spiffe://example.org/a\n    selectors: [unix:pid:1]\n`, 3,
      'entries[0].selectors[0]: unknown key "pid" for type unix'],
    ['a selector that is not a string', `entries:\n  - spiffeId: spiffe://example.org/a\n    selectors:\n      - 1000\n`, 4,
      'entries[0].selectors[0]: expected a selector "type:key:value", got number 1000'],
    ['an unknown key (a typo)', `entries:\n${ENTRY}    x509SvidTTL: 1h\n`, 4,
      'entries[0].x509SvidTTL: unknown key "x509SvidTTL" (known: spiffeId, selectors, x509SvidTtl, jwtSvidTtl, dnsNames, hint, federatesWith, posture)'],
    ['two unknown keys, at the first', `entries:\n${ENTRY}    ttl: 1h\n    dns: [a]\n`, 4,
      'entries[0].ttl: unknown keys "ttl", "dns" (known: spiffeId,'],
    ['a missing spiffeId', `entries:\n${ENTRY}  - selectors: [unix:uid:1]\n`, 4, 'entries[1].spiffeId: required'],
    ['missing selectors', `entries:\n${ENTRY}  - spiffeId: spiffe://example.org/a\n`, 4, 'entries[1].selectors: required'],
    ['no selectors', `entries:\n  - spiffeId: spiffe://example.org/a\n    selectors: []\n`, 3,
      'entries[0].selectors: an entry needs at least one selector'],
    ['selectors as a string', `entries:\n  - spiffeId: spiffe://example.org/a\n    selectors: unix:uid:1\n`, 3,
      'entries[0].selectors: expected a list of selectors, got string "unix:uid:1"'],
    ['an invalid SPIFFE ID', `entries:\n  - spiffeId: spiffe://Example.org/a\n    selectors: [unix:uid:1]\n`, 2,
      'entries[0].spiffeId: '],
    ['a SPIFFE ID without a path', `entries:\n  - spiffeId: spiffe://example.org\n    selectors: [unix:uid:1]\n`, 2,
      'entries[0].spiffeId: spiffe://example.org is a trust domain\'s own ID'],
    ['a SPIFFE ID of another trust domain', `entries:\n${ENTRY}  - spiffeId: spiffe://evil.test/a\n    selectors: [unix:uid:1]\n`, 4,
      'entries[1].spiffeId: spiffe://evil.test/a is not in this agent\'s trust domain example.org'],
    ['a SPIFFE ID over 2048 bytes', `entries:\n  - spiffeId: spiffe://example.org/${'a'.repeat(2040)}\n    selectors: [unix:uid:1]\n`, 2,
      'at most 2048 bytes'],
    ['a zero TTL', `entries:\n${ENTRY}    x509SvidTtl: 0\n`, 4, 'entries[0].x509SvidTtl: 0 must be longer than zero'],
    ['a TTL in days', `entries:\n${ENTRY}    jwtSvidTtl: 1d\n`, 4, 'entries[0].jwtSvidTtl: "1d" is not a duration'],
    ['a negative TTL', `entries:\n${ENTRY}    jwtSvidTtl: -5m\n`, 4, 'entries[0].jwtSvidTtl: "-5m" is not a duration'],
    ['a TTL of the wrong type', `entries:\n${ENTRY}    jwtSvidTtl: true\n`, 4, 'entries[0].jwtSvidTtl: expected a duration'],
    ['a bad DNS name', `entries:\n${ENTRY}    dnsNames:\n      - ok.local\n      - web_local\n`, 6,
      'entries[0].dnsNames[1]: "web_local" is not a DNS name'],
    ['a DNS name with a wildcard inside', `entries:\n${ENTRY}    dnsNames: ["a.*.local"]\n`, 4, 'is not a DNS name'],
    ['a hint over 1024 bytes', `entries:\n${ENTRY}    hint: ${'é'.repeat(513)}\n`, 4, 'entries[0].hint: a hint is at most 1024 bytes'],
    ['an empty hint', `entries:\n${ENTRY}    hint: ""\n`, 4, 'entries[0].hint: an empty hint'],
    ['a bad federated trust domain', `entries:\n${ENTRY}    federatesWith: [partner.example, Bad.Example]\n`, 4,
      'entries[0].federatesWith[1]: '],
    ['a duplicate entry', `entries:\n${ENTRY}  - spiffeId: spiffe://example.org/web\n    selectors: ["unix:uid:01000"]\n    hint: again\n`, 4,
      'entries[1]: the same spiffeId and selectors as entries[0] (line 2)'],
    ['bad YAML', 'entries:\n  - spiffeId: spiffe://example.org/a\n  selectors: [\n', 3, 'YAML: '],
    ['a duplicate YAML key', `entries:\n${ENTRY}    hint: a\n    hint: b\n`, 5, 'YAML: Map keys must be unique'],
    ['a list at the top level', '- spiffeId: spiffe://example.org/a\n', 1, '(top level): expected a mapping with an "entries" list, got a list'],
    ['entries as a mapping', 'entries:\n  web: {}\n', 2, 'entries: expected a list of entries, got a mapping'],
    ['an entry that is a string', 'entries:\n  - spiffe://example.org/a\n', 2, 'entries[0]: expected a mapping of entry keys'],
    ['an unknown top-level key', `version: 2\nentries:\n${ENTRY}`, 1, 'entries.yaml:1:1: version: unknown key "version" (known: entries)'],
  ])('%s', (_name, text, line, reason) => {
    const err = refusal(text, TD);
    expect(err.code).toBe('BAD_ENTRIES');
    expect(err.line).toBe(line);
    expect(err.message).toMatch(new RegExp(`^entries\\.yaml:${line}:\\d+: `));
    expect(err.message).toContain(reason);
  });

  it('refuses a file whose aliases expand without bound (billion laughs)', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const err = refusal(`${levels.join('\n')}\nentries: []\n`);
    expect(err.code).toBe('BAD_ENTRIES');
    expect(err.message).toMatch(/^entries\.yaml:1:1: YAML: .*alias/i);
  });

  it('lists every problem, first line first', () => {
    const err = refusal(`entries:\n  - spiffeId: spiffe://example.org/a\n    selectors: [unix:uid:x]\n    hint: ""\n  - spiffeId: nope\n    selectors: [unix:uid:1]\n`, TD);
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => l.split(':')[1])).toEqual(['3', '4', '5']);
    expect(err.line).toBe(3);
  });

  it('keeps the message bounded for a file of many problems', () => {
    const many = Array.from({ length: 30 }, (_, i) => `  - spiffeId: spiffe://example.org/${i}\n    selectors: [bad]\n`).join('');
    const lines = refusal(`entries:\n${many}`).message.split('\n');
    expect(lines).toHaveLength(21);
    expect(lines[20]).toBe('entries.yaml: and 10 more problems');
  });
});
