import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../agent/kernel/index.js';
import { AgentProcess } from '../support/agent-process.js';
import { exited, spawned, waitFor } from '../support/wait.js';

// The real `tether` binary as `make build` leaves it, run as a separate process.
const BIN = join(packageRoot(), 'build', 'agent', 'cli', 'bin.js');

function tether(args: readonly string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface EntryJson { id: string; spiffeId: string; selectors: string[]; x509SvidTtlSeconds: number | null; hint: string | null; line: number }
interface MatchJson { pid: number; selectors: string[]; entries: Array<{ id: string; spiffeId: string; matched: boolean; missing: string[] }> }

// `entry list|show` read the entries file offline (no agent needed); `entry match` asks a running agent.
describe('tether entry', () => {
  let dir: string;
  let file: string;
  const sleepPath = realpathSync('/bin/sleep');

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tether-e2e-entry-'));
    file = join(dir, 'entries.yaml');
    writeFileSync(file, `# root's sleep, and anyone of uid 1000
entries:
  - spiffeId: spiffe://example.org/sleeper
    selectors: ["unix:uid:0", "unix:path:${sleepPath}"]
    x509SvidTtl: 1h30m
    hint: internal
  - spiffeId: spiffe://example.org/user
    selectors: ["unix:uid:1000"]
`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists the entries of a file as JSON, with their lines', () => {
    const r = tether(['entry', 'list', '--entries', file, '--output', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const entries = JSON.parse(r.stdout) as EntryJson[];
    expect(entries).toMatchObject([
      { spiffeId: 'spiffe://example.org/sleeper', selectors: [`unix:path:${sleepPath}`, 'unix:uid:0'], x509SvidTtlSeconds: 5400, hint: 'internal', line: 3 },
      { spiffeId: 'spiffe://example.org/user', selectors: ['unix:uid:1000'], x509SvidTtlSeconds: null, hint: null, line: 7 },
    ]);
    expect(entries[0]?.id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('lists them as a table, and finds the file through TETHER_ENTRIES or the state dir', () => {
    const viaEnv = tether(['entry', 'list'], { TETHER_ENTRIES: file });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    const [header, ...rows] = viaEnv.stdout.trim().split('\n');
    expect(header).toMatch(/^ID\s+SPIFFEID\s+SELECTORS\s+TTL\s+HINT$/);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/spiffe:\/\/example\.org\/sleeper\s+\S+\s+1h30m\/-\s+internal$/);
    const viaStateDir = tether(['entry', 'list', '--state-dir', dir], { TETHER_ENTRIES: '' });
    expect(viaStateDir.stdout).toBe(viaEnv.stdout);
  });

  it('shows one entry by id and by SPIFFE ID, and fails for one it does not have', () => {
    const [first] = JSON.parse(tether(['entry', 'list', '--entries', file, '-o', 'json']).stdout) as EntryJson[];
    const byId = tether(['entry', 'show', first?.id ?? '', '--entries', file]);
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.stdout).toContain('spiffeId:      spiffe://example.org/sleeper');
    expect(byId.stdout).toContain('x509SvidTtl:   1h30m');
    const bySpiffeId = tether(['entry', 'show', 'spiffe://example.org/sleeper', '--entries', file]);
    expect(bySpiffeId.stdout).toBe(byId.stdout);
    const missing = tether(['entry', 'show', 'spiffe://example.org/nobody', '--entries', file]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('ENTRY_NOT_FOUND');
  });

  it('fails with exit 1 on a bad file, naming its line and the reason', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'entries:\n  - spiffeId: spiffe://example.org/web\n    selectors:\n      - unix:uid:1000\n      - unx:path:/usr/bin/python3\n');
    const r = tether(['entry', 'list', '--entries', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:5:9: entries[0].selectors[1]: unknown selector type "unx"`);
    expect(r.stdout).toBe('');
  });

  it('fails with exit 1 for a missing file, and 2 for a trust domain that is not one', () => {
    const missing = tether(['entry', 'list', '--entries', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no entries file at ${join(dir, 'nope.yaml')}`);
    const badTd = tether(['entry', 'list', '--entries', file, '--trust-domain', 'Example.ORG']);
    expect(badTd.code).toBe(2);
    expect(badTd.stderr).toContain('--trust-domain');
    const otherTd = tether(['entry', 'list', '--entries', file, '--trust-domain', 'other.test']);
    expect(otherTd.code).toBe(1);
    expect(otherTd.stderr).toContain(`${file}:3:`);
  });

  describe('match (the running agent\'s table and entries)', () => {
    let sleep: ChildProcess;
    let agent: AgentProcess;
    beforeAll(async () => {
      agent = await AgentProcess.start(readFileSync(file, 'utf8'));
      sleep = spawn('/bin/sleep', ['300'], { stdio: 'ignore' });
      await spawned(sleep);
    });
    afterAll(async () => {
      sleep.kill('SIGKILL');
      await exited(sleep);
      await agent.stop();
    });

    it('tells which entries a sleep matches, and the selectors it lacks for the rest', () => {
      const r = agent.cli(['entry', 'match', String(sleep.pid), '--output', 'json']);
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as MatchJson;
      expect(out.pid).toBe(sleep.pid);
      expect(out.selectors).toEqual(expect.arrayContaining(['unix:uid:0', 'unix:gid:0', `unix:path:${sleepPath}`,
        `lineage:path:${realpathSync(process.execPath)}`]));
      expect(out.selectors.some((s) => s.startsWith('unix:sha256:'))).toBe(false); // no entry asks for one
      expect(out.entries).toMatchObject([
        { spiffeId: 'spiffe://example.org/sleeper', matched: true, missing: [] },
        { spiffeId: 'spiffe://example.org/user', matched: false, missing: ['unix:uid:1000'] },
      ]);
    });

    it('prints a table by default', () => {
      const r = agent.cli(['entry', 'match', String(sleep.pid)]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Process ${sleep.pid} has the selectors:\n`);
      expect(r.stdout).toMatch(/spiffe:\/\/example\.org\/sleeper\s+yes\s+-/);
      expect(r.stdout).toMatch(/spiffe:\/\/example\.org\/user\s+no\s+unix:uid:1000/);
    });

    it('refuses a pid that is not in the process table, and one that is not a number, with exit 2', async () => {
      const gone = spawn('/bin/true');
      await exited(gone);
      const r = agent.cli(['entry', 'match', String(gone.pid)]);
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`tether: pid: no process ${gone.pid} in the process table\n`);
      expect(agent.cli(['entry', 'match', 'abc']).status).toBe(2);
      expect(agent.cli(['entry', 'match', String(sleep.pid), '-o', 'yaml']).status).toBe(2);
    });

    it('hashes the executable only when an entry in force names a digest (after the agent reloads its file)', async () => {
      const digest = spawnSync('sha256sum', [sleepPath], { encoding: 'utf8' }).stdout.split(' ')[0];
      writeFileSync(agent.entries, `entries:\n  - spiffeId: spiffe://example.org/sleeper\n    selectors: ["unix:sha256:${digest}"]\n`);
      const out = await waitFor('the agent to reload its entries', () => {
        const m = JSON.parse(agent.cli(['entry', 'match', String(sleep.pid), '-o', 'json']).stdout) as MatchJson;
        return m.entries.length === 1 ? m : undefined;
      }, 10_000);
      expect(out.selectors).toContain(`unix:sha256:${digest}`);
      expect(out.entries[0]?.matched).toBe(true);
    });
  });
});
