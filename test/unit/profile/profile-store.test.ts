import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProfileStore, parseProfile, profileFileName } from '../../../agent/profile/index.js';
import { SpiffeId } from '../../../agent/spiffe/index.js';

const text = (path: string, mode = 'learn'): string =>
  `id: spiffe://example.org${path}\nmode: ${mode}\nlearning:\n  since: 2026-11-23T10:00:00.000Z\n  until: null\n`;

describe('the profiles directory', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tether-profiles-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('serves every file; a file with errors is refused whole and its last good version stays', () => {
    writeFileSync(join(dir, 'web.yaml'), text('/web', 'monitor'));
    writeFileSync(join(dir, 'db.yaml'), text('/db'));
    const store = new ProfileStore({ dir });
    expect(store.load()).toEqual([]);
    expect(store.all().map((p) => p.id.toString()).sort()).toEqual(['spiffe://example.org/db', 'spiffe://example.org/web']);
    writeFileSync(join(dir, 'web.yaml'), text('/web', 'enforce').replace('until: null', 'until: yesterday'));
    const problems = store.load();
    expect(problems.map((p) => [p.code, p.line])).toEqual([['BAD_PROFILE', 5]]);
    expect(problems[0]?.message).toContain('learning.until: not an ISO 8601 time');
    expect(store.get('spiffe://example.org/web')?.mode).toBe('monitor');
  });

  it('refuses a second file for the same identity', () => {
    writeFileSync(join(dir, 'a.yaml'), text('/web', 'monitor'));
    writeFileSync(join(dir, 'b.yaml'), text('/web', 'enforce'));
    const store = new ProfileStore({ dir });
    const problems = store.load();
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toContain('already has a profile in a.yaml');
    expect(store.get('spiffe://example.org/web')?.mode).toBe('monitor');
  });

  it('writes a new profile to its own file, readable as it was saved', () => {
    const store = new ProfileStore({ dir });
    const id = SpiffeId.parse('spiffe://example.org/ns/web');
    store.save({ id, mode: 'learn', learning: { since: new Date(0), until: null }, executables: [], destinations: [], listens: [8080] });
    const path = join(dir, profileFileName(id));
    expect(path.endsWith('example.org_ns_web.yaml')).toBe(true);
    expect(parseProfile(readFileSync(path, 'utf8'), path).listens).toEqual([8080]);
    expect(new ProfileStore({ dir }).load()).toEqual([]);
  });
});
