import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startAdminServer, tetherAdmin, type AdminHarness } from '../../support/admin-server.js';

const WEB = 'spiffe://example.org/web';
const DB = 'spiffe://example.org/db';
let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
});

afterEach(async () => {
  await h.close();
});

describe('tether policy check', () => {
  it('prints the decision and its rule\'s line; exit 0 when allowed', async () => {
    const r = await tetherAdmin(h, 'policy', 'check', '--from', WEB, '--to', DB, '--port', '5432');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('verdict: allow\nmode:    enforce\nreason:  rule at line 4 allows it\nline:    4\n');
    expect(h.backend.checks).toEqual([{ from: WEB, to: DB, port: 5432 }]);
  });

  it('prints JSON with -o json, and exits 1 when the connect would be denied', async () => {
    h.backend.decision = { verdict: 'deny', mode: 'enforce', reason: 'no rule allows web to reach 10.0.0.7:443' };
    const r = await tetherAdmin(h, 'policy', 'check', '--from', WEB, '--to', '10.0.0.7', '--port', '443', '-o', 'json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual(h.backend.decision);
    expect(r.stderr).toBe('');
  });

  it('exits 0 for an audit verdict (allowed, reported)', async () => {
    h.backend.decision = { verdict: 'audit', mode: 'audit', reason: 'no rule allows it; audit mode lets it through' };
    const r = await tetherAdmin(h, 'policy', 'check', '--from', WEB, '--to', DB, '--port', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('line:');
  });

  it.each([
    [['--from', WEB, '--to', DB, '--port', '0'], '--port must be 1-65535: got 0'],
    [['--from', WEB, '--to', DB, '--port', '65536'], '--port must be 1-65535: got 65536'],
    [['--from', WEB, '--to', DB, '--port', 'http'], '--port must be 1-65535: got http'],
    [['--from', 'web', '--to', DB, '--port', '80'], '--from must be a SPIFFE ID'],
    [['--from', WEB, '--to', 'db.example.org', '--port', '80'], '--to must be a SPIFFE ID or an IP address: got "db.example.org"'],
    [['--from', WEB, '--to', `${DB}/`, '--port', '80'], '--to must be a SPIFFE ID'],
    [['--from', WEB, '--to', DB], "required option '--port <n>' not specified"],
  ])('refuses %j with exit 2 before asking the agent', async (args, message) => {
    const r = await tetherAdmin(h, 'policy', 'check', ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
    expect(h.backend.checks).toEqual([]);
  });

  it('says the agent enforces nothing when it runs without --policy (exit 1)', async () => {
    h.backend.enforcing = false;
    const r = await tetherAdmin(h, 'policy', 'check', '--from', WEB, '--to', DB, '--port', '5432');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tether: the agent enforces no policy: it was started without --policy (NOT_ENFORCING)\n');
  });
});

describe('tether policy apply', () => {
  const yaml = `mode: enforce\nrules:\n  - from: ${WEB}\n    to: ${DB}\n    ports: [5432]\n`;

  it('sends the file and prints what is in force; JSON with -o json', async () => {
    const file = join(h.dir, 'policy.yaml');
    writeFileSync(file, yaml);
    const r = await tetherAdmin(h, 'policy', 'apply', file);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('policy in force: mode enforce, 3 rules, generation 2, written to /etc/tether/policy.yaml\n');
    expect(h.backend.applies).toEqual([yaml]);
    const j = await tetherAdmin(h, 'policy', 'apply', file, '-o', 'json');
    expect(JSON.parse(j.stdout)).toEqual(h.backend.applied);
  });

  it('prints the agent\'s message for a bad policy and exits 1', async () => {
    const file = join(h.dir, 'bad.yaml');
    writeFileSync(file, 'mode: enforce\nrules:\n  - from: web\n');
    h.backend.rejectPolicy = 'policy.yaml:3:11: rules[0].from: "web" is not a SPIFFE ID or pattern';
    const r = await tetherAdmin(h, 'policy', 'apply', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tether: ${h.backend.rejectPolicy} (BAD_POLICY)\n`);
    expect(r.stdout).toBe('');
  });

  it('refuses a file it cannot read, or one over 1 MiB, with exit 2', async () => {
    const missing = join(h.dir, 'missing.yaml');
    const r = await tetherAdmin(h, 'policy', 'apply', missing);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`tether: cannot read the policy file ${missing}: ENOENT\n`);
    const big = join(h.dir, 'big.yaml');
    writeFileSync(big, `# ${'x'.repeat(1024 * 1024)}\n`);
    expect((await tetherAdmin(h, 'policy', 'apply', big)).stderr).toContain('a policy may be at most 1048576');
    expect((await tetherAdmin(h, 'policy', 'apply')).code).toBe(2);
    expect(h.backend.applies).toEqual([]);
  });
});

describe('tether policy suggest | unused', () => {
  it('prints the suggested YAML, or writes it to --out', async () => {
    const r = await tetherAdmin(h, 'policy', 'suggest');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(h.backend.suggestion);
    const out = join(h.dir, 'suggested.yaml');
    writeFileSync(out, 'old');
    chmodSync(out, 0o600);
    const w = await tetherAdmin(h, 'policy', 'suggest', '--out', out);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toBe(`wrote the suggested policy to ${out}\n`);
    expect(readFileSync(out, 'utf8')).toBe(h.backend.suggestion);
  });

  it('wraps it in JSON with -o json: the YAML, or the path written', async () => {
    const r = await tetherAdmin(h, 'policy', 'suggest', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ yaml: h.backend.suggestion });
    const out = join(h.dir, 'suggested.yaml');
    const w = await tetherAdmin(h, 'policy', 'suggest', '--out', out, '-o', 'json');
    expect(JSON.parse(w.stdout)).toEqual({ path: out });
    expect(readFileSync(out, 'utf8')).toBe(h.backend.suggestion);
  });

  it('lists the unused rules as a table or JSON', async () => {
    h.backend.unused = [
      { line: 7, from: WEB, to: '10.0.0.0/8', ports: '8000-8080,9090' },
      { line: 12, from: 'spiffe://example.org/*', to: DB, ports: 'any' },
    ];
    const r = await tetherAdmin(h, 'policy', 'unused');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/))).toEqual([
      ['LINE', 'FROM', 'TO', 'PORTS'], ['7', WEB, '10.0.0.0/8', '8000-8080,9090'], ['12', 'spiffe://example.org/*', DB, 'any'],
    ]);
    expect(JSON.parse((await tetherAdmin(h, 'policy', 'unused', '-o', 'json')).stdout)).toEqual(h.backend.unused);
  });

  it('exits 1 with what to check when the admin socket is not there', async () => {
    const missing = join(h.dir, 'state', 'gone.sock');
    for (const args of [['policy', 'suggest'], ['policy', 'unused'], ['conns']]) {
      const r = await runCli([...args, '--admin-socket', missing]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`tether: cannot reach the agent's admin socket ${missing}: ENOENT (is \`tether agent run\` running?) (UNREACHABLE)\n`);
    }
  });
});
