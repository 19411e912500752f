import { describe, expect, it } from 'vitest';
import { parseEntriesFile } from '../../../agent/registry/entries-file.js';
import type { Entry } from '../../../agent/registry/entry.js';
import { explainMatch, matchEntries } from '../../../agent/registry/match.js';

const ENTRIES = parseEntriesFile(`entries:
  - spiffeId: spiffe://example.org/web
    selectors: [unix:uid:1000, unix:path:/usr/bin/python3.11]
  - spiffeId: spiffe://example.org/any-1000
    selectors: [unix:uid:1000]
  - spiffeId: spiffe://example.org/sshd-child
    selectors: [unix:uid:1000, lineage:path:/usr/sbin/sshd]
  - spiffeId: spiffe://example.org/root
    selectors: [unix:uid:0]
`, 'entries.yaml');

const ids = (entries: readonly Entry[]): string[] => entries.map((e) => e.spiffeId.toString());

describe('matchEntries', () => {
  it('gives the entries whose every selector the workload has, in file order', () => {
    const workload = new Set(['unix:uid:1000', 'unix:gid:1000', 'unix:path:/usr/bin/python3.11', 'lineage:path:/usr/bin/bash']);
    expect(ids(matchEntries(ENTRIES, workload))).toEqual(['spiffe://example.org/web', 'spiffe://example.org/any-1000']);
  });

  it('matches a lineage selector when any ancestor ran the executable', () => {
    const workload = new Set(['unix:uid:1000', 'unix:path:/usr/bin/bash', 'lineage:path:/usr/bin/bash', 'lineage:path:/usr/sbin/sshd']);
    expect(ids(matchEntries(ENTRIES, workload))).toEqual(['spiffe://example.org/any-1000', 'spiffe://example.org/sshd-child']);
  });

  it('matches nothing for a workload without selectors, or with only unrelated ones', () => {
    expect(matchEntries(ENTRIES, new Set())).toEqual([]);
    expect(matchEntries(ENTRIES, new Set(['unix:uid:1001', 'unix:path:/usr/bin/python3.11']))).toEqual([]);
  });

  it('never matches an entry without selectors (which the file refuses anyway)', () => {
    const [web] = ENTRIES;
    if (web === undefined) throw new Error('no entry');
    const empty: Entry = { ...web, selectors: [] };
    expect(matchEntries([empty], new Set(['unix:uid:1000']))).toEqual([]);
    expect(explainMatch([empty], new Set(['unix:uid:1000']))).toEqual([{ entry: empty, matched: false, missing: [] }]);
  });
});

describe('explainMatch', () => {
  it('tells for every entry whether it matched and which of its selectors were missing', () => {
    const workload = new Set(['unix:uid:1000', 'unix:path:/usr/bin/perl']);
    expect(explainMatch(ENTRIES, workload).map((x) => [x.entry.spiffeId.toString(), x.matched, x.missing])).toEqual([
      ['spiffe://example.org/web', false, ['unix:path:/usr/bin/python3.11']],
      ['spiffe://example.org/any-1000', true, []],
      ['spiffe://example.org/sshd-child', false, ['lineage:path:/usr/sbin/sshd']],
      ['spiffe://example.org/root', false, ['unix:uid:0']],
    ]);
  });
});
