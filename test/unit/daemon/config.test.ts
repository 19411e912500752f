import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../agent/daemon/config.js';

let dir: string;
let n = 0;

/** A config file with these contents, in this suite's temp directory. */
function yamlFile(text: string): string {
  const file = join(dir, `config-${n++}.yaml`);
  writeFileSync(file, text);
  return file;
}

function refusal(load: () => unknown): ConfigError {
  try {
    load();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).code).toBe('BAD_CONFIG');
    return e as ConfigError;
  }
  return expect.unreachable('the configuration was accepted');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tether-config-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const CA_DEFAULTS = { keyType: 'ec-p256', caTtlSeconds: 86_400, intermediate: false };

describe('loadConfig layering', () => {
  it('layers the trust domain: file < TETHER_TRUST_DOMAIN < --trust-domain', () => {
    const file = yamlFile('trustDomain: from.file\n');
    expect(loadConfig({ config: file }, {}).trustDomain).toBe('from.file');
    expect(loadConfig({ config: file }, { TETHER_TRUST_DOMAIN: 'from.env' }).trustDomain).toBe('from.env');
    expect(loadConfig({ config: file, trustDomain: 'from.flag' }, { TETHER_TRUST_DOMAIN: 'from.env' }).trustDomain).toBe('from.flag');
  });

  it('reads the profiles\' learning window as a duration and refuses one that is not', () => {
    expect(loadConfig({ config: yamlFile('profiles:\n  learnWindow: 30m\n') }, {}).profiles.learnWindow).toBe(1_800_000);
    expect(loadConfig({ config: yamlFile('profiles:\n  learnWindow: 2d\n  dir: /p\n') }, {}).profiles).toEqual({ learnWindow: 172_800_000, dir: '/p', scanIntervalMs: 5_000 });
    expect(() => loadConfig({ config: yamlFile('profiles:\n  learnWindow: soon\n') }, {})).toThrow(/profiles\.learnWindow: a duration/);
  });

  it('reads the kernel health interval and refuses one below 100 ms by its key', () => {
    expect(loadConfig({ config: yamlFile('health:\n  intervalMs: 500\n') }, {}).health).toEqual({ intervalMs: 500 });
    expect(() => loadConfig({ config: yamlFile('health:\n  intervalMs: 10\n') }, {})).toThrow(/health\.intervalMs/);
    expect(() => loadConfig({ config: yamlFile('health:\n  every: 5\n') }, {})).toThrow(/health/);
  });

  it('reads the CA settings and refuses a bad one by its key', () => {
    const c = loadConfig({ config: yamlFile('ca:\n  keyType: rsa-2048\n  caTtlSeconds: 3600\n  intermediate: true\n') }, {});
    expect(c.ca).toEqual({ keyType: 'rsa-2048', caTtlSeconds: 3600, intermediate: true });
    expect(() => loadConfig({ config: yamlFile('ca:\n  keyType: ed25519\n') }, {})).toThrow(/ca\.keyType/);
    expect(() => loadConfig({ config: yamlFile('ca:\n  caTtlSeconds: -5\n') }, {})).toThrow(/ca\.caTtlSeconds/);
  });

  it('reads ca.upstream (a shared root: certFile and keyFile, both required, nothing else) and refuses a bad one by its key', () => {
    const c = loadConfig({ config: yamlFile('ca:\n  upstream:\n    certFile: /etc/tether/root.crt\n    keyFile: /etc/tether/root.key\n') }, {});
    expect(c.ca).toEqual({ ...CA_DEFAULTS, upstream: { certFile: '/etc/tether/root.crt', keyFile: '/etc/tether/root.key' } });
    expect(loadConfig({}, {}).ca.upstream).toBeUndefined();
    expect(() => loadConfig({ config: yamlFile('ca:\n  upstream:\n    certFile: /r.crt\n') }, {})).toThrow(/ca\.upstream\.keyFile/);
    expect(() => loadConfig({ config: yamlFile('ca:\n  upstream:\n    certFile: ""\n    keyFile: /r.key\n') }, {})).toThrow(/ca\.upstream\.certFile/);
    const extra = refusal(() => loadConfig({ config: yamlFile('ca:\n  upstream:\n    certFile: /r.crt\n    keyFile: /r.key\n    bundleFile: /b\n') }, {}));
    expect(extra.message).toContain('bundleFile');
  });

  it('gives the defaults when nothing is set, frozen', () => {
    const c = loadConfig({}, {});
    expect(c).toEqual({ stateDir: '/var/lib/tether', pinDir: '/sys/fs/bpf/tether', logLevel: 'info', metricsAddr: '127.0.0.1:9811', exitWithParent: true, enforce: {}, ca: CA_DEFAULTS, health: { intervalMs: 5_000 }, profiles: { learnWindow: 86_400_000, scanIntervalMs: 5_000 } });
    expect(c.trustDomain).toBeUndefined(); // the agent warns and uses example.org
    expect(c.enforce.cgroup).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('ignores environment variables that are not its own', () => {
    expect(loadConfig({}, { HOME: '/root', STATE_DIR: '/x' }).stateDir).toBe('/var/lib/tether');
  });

  it('reads the file named by --config, keeping defaults for what it leaves out', () => {
    const file = yamlFile('stateDir: /srv/tether\nlogLevel: debug\n');
    expect(loadConfig({ config: file }, {})).toEqual({
      stateDir: '/srv/tether', pinDir: '/sys/fs/bpf/tether', logLevel: 'debug', metricsAddr: '127.0.0.1:9811', exitWithParent: true, enforce: {}, ca: CA_DEFAULTS, health: { intervalMs: 5_000 }, profiles: { learnWindow: 86_400_000, scanIntervalMs: 5_000 },
    });
  });

  it('reads the file named by TETHER_CONFIG, and --config wins over it', () => {
    const fromEnv = yamlFile('stateDir: /from-env-file\n');
    const fromFlag = yamlFile('stateDir: /from-flag-file\n');
    expect(loadConfig({}, { TETHER_CONFIG: fromEnv }).stateDir).toBe('/from-env-file');
    expect(loadConfig({ config: fromFlag }, { TETHER_CONFIG: fromEnv }).stateDir).toBe('/from-flag-file');
  });

  it('lets the environment override the file', () => {
    const file = yamlFile('stateDir: /file/state\npinDir: /sys/fs/bpf/file\n');
    const c = loadConfig({ config: file }, { TETHER_STATE_DIR: '/env/state' });
    expect(c.stateDir).toBe('/env/state');
    expect(c.pinDir).toBe('/sys/fs/bpf/file');
    expect(loadConfig({ config: file }, { TETHER_PIN_DIR: '/sys/fs/bpf/env' }).pinDir).toBe('/sys/fs/bpf/env');
  });

  it('lets flags override the environment and the file', () => {
    const file = yamlFile('stateDir: /file/state\npinDir: /sys/fs/bpf/file\nlogLevel: warn\n');
    const env = { TETHER_STATE_DIR: '/env/state', TETHER_PIN_DIR: '/sys/fs/bpf/env' };
    const c = loadConfig({ config: file, stateDir: '/flag/state', logLevel: 'trace' }, env);
    expect(c).toMatchObject({ stateDir: '/flag/state', pinDir: '/sys/fs/bpf/env', logLevel: 'trace' });
    expect(loadConfig({ pinDir: '/sys/fs/bpf/flag' }, env).pinDir).toBe('/sys/fs/bpf/flag');
  });

  it('layers enforce.cgroup: file < TETHER_CGROUP < --cgroup', () => {
    const file = yamlFile('enforce:\n  cgroup: /sys/fs/cgroup/from-file\n');
    expect(loadConfig({ config: file }, {}).enforce.cgroup).toBe('/sys/fs/cgroup/from-file');
    expect(loadConfig({ config: file }, { TETHER_CGROUP: '/sys/fs/cgroup/env' }).enforce.cgroup).toBe('/sys/fs/cgroup/env');
    expect(loadConfig({ config: file, cgroup: '/sys/fs/cgroup/flag' }, { TETHER_CGROUP: '/sys/fs/cgroup/env' }).enforce.cgroup)
      .toBe('/sys/fs/cgroup/flag');
    expect(loadConfig({ cgroup: '/sys/fs/cgroup/flag' }, {}).enforce.cgroup).toBe('/sys/fs/cgroup/flag');
  });

  it('treats an empty file as no settings', () => {
    expect(loadConfig({ config: yamlFile('') }, {}).stateDir).toBe('/var/lib/tether');
  });
});

describe('mesh', () => {
  it('is off unless mesh.cidrs is given; then takes the defaults (port 15008, outbound 15001, strict inbound)', () => {
    expect(loadConfig({}, {}).mesh).toBeUndefined();
    const m = loadConfig({ config: yamlFile('mesh:\n  cidrs: [10.77.0.0/24, "fd00::/8"]\n') }, {}).mesh;
    expect(m?.cidrs.map((c) => [c.family, c.address.toString('hex'), c.prefixLength])).toEqual([[4, '0a4d0000', 24], [6, 'fd000000000000000000000000000000', 8]]);
    expect(m).toMatchObject({ port: 15008, outboundPort: 15001, inbound: 'strict', handshakeTimeoutMs: 10_000 });
    expect(m?.ports).toBeUndefined();
    const p = loadConfig({ config: yamlFile('mesh:\n  cidrs: [10.0.0.0/8]\n  ports: [8080, "9000-9001"]\n  inbound: permissive\n  port: 16008\n') }, {}).mesh;
    expect(p).toMatchObject({ ports: [{ first: 8080, last: 8080 }, { first: 9000, last: 9001 }], inbound: 'permissive', port: 16008 });
  });

  it.each([
    ['mesh:\n  cidrs: []\n', /mesh\.cidrs: list at least one network/],
    ['mesh:\n  ports: [80]\n', /mesh\.cidrs/],
    ['mesh:\n  cidrs: [10.0.0.1/8]\n', /mesh\.cidrs\.0: .*host bits/],
    ['mesh:\n  cidrs: [10.0.0.0/8]\n  ports: [70000]\n', /mesh\.ports\.0: port 70000 is out of range/],
    ['mesh:\n  cidrs: [10.0.0.0/8]\n  ports: []\n', /mesh\.ports: list ports/],
    ['mesh:\n  cidrs: [10.0.0.0/8]\n  inbound: open\n', /mesh\.inbound/],
    ['mesh:\n  cidrs: [10.0.0.0/8]\n  port: 15001\n', /mesh\.outboundPort: port and outboundPort must differ/],
    ['mesh:\n  cidrs: [10.0.0.0/8]\n  tunnels: 3\n', /mesh: .*tunnels/],
  ])('refuses %j naming the key', (text, message) => {
    expect(refusal(() => loadConfig({ config: yamlFile(text) }, {})).message).toMatch(message);
  });
});

describe('loadConfig refusals', () => {
  it('refuses an unknown top-level key, naming it and the file', () => {
    const file = yamlFile('stateDir: /x\nstatedir: /y\n');
    const e = refusal(() => loadConfig({ config: file }, {}));
    expect(e.message).toContain('statedir');
    expect(e.message).toContain(file);
  });

  it('refuses an unknown key under enforce, naming it', () => {
    const e = refusal(() => loadConfig({ config: yamlFile('enforce:\n  cgroups: /sys/fs/cgroup\n') }, {}));
    expect(e.message).toContain('cgroups');
    expect(e.message).toContain('enforce');
  });

  it.each([
    ['a list', '- stateDir\n- pinDir\n'],
    ['a string', 'just text\n'],
    ['a number', '42\n'],
  ])('refuses a top level that is %s', (_name, text) => {
    expect(refusal(() => loadConfig({ config: yamlFile(text) }, {})).message).toContain('top level must be a mapping');
  });

  it('refuses an enforce that is not a mapping, naming enforce and not its characters', () => {
    const e = refusal(() => loadConfig({ config: yamlFile('enforce: abc\n') }, {}));
    expect(e.message).toMatch(/enforce: .*object/i);
    expect(e.message).not.toContain('"0"');
  });

  it('refuses a bad value, naming its key', () => {
    expect(refusal(() => loadConfig({ logLevel: 'loud' }, {})).message).toContain('logLevel');
    expect(refusal(() => loadConfig({}, { TETHER_STATE_DIR: '' })).message).toContain('stateDir');
    expect(refusal(() => loadConfig({ config: yamlFile('stateDir: 7\n') }, {})).message).toContain('stateDir');
  });

  it('refuses YAML that does not parse and a file that is not there', () => {
    expect(refusal(() => loadConfig({ config: yamlFile('stateDir: [unclosed\n') }, {})).message).toContain('config-');
    const missing = join(dir, 'absent.yaml');
    expect(refusal(() => loadConfig({ config: missing }, {})).message).toContain(missing);
  });
});

describe('metrics and admin socket', () => {
  it('serves metrics on 127.0.0.1:9811 unless told otherwise, and layers file < env < flag', () => {
    expect(loadConfig({}, {}).metricsAddr).toBe('127.0.0.1:9811');
    expect(loadConfig({}, {}).adminSocket).toBeUndefined(); // <stateDir>/admin.sock
    const file = yamlFile('metricsAddr: "[::1]:9000"\nadminSocket: /run/tether/admin.sock\n');
    expect(loadConfig({ config: file }, {})).toMatchObject({ metricsAddr: '[::1]:9000', adminSocket: '/run/tether/admin.sock' });
    expect(loadConfig({ config: file }, { TETHER_METRICS_ADDR: 'off' }).metricsAddr).toBe('off');
    expect(loadConfig({ config: file, metricsAddr: '127.0.0.1:1', adminSocket: '/x.sock' }, { TETHER_METRICS_ADDR: 'off' }))
      .toMatchObject({ metricsAddr: '127.0.0.1:1', adminSocket: '/x.sock' });
  });

  it('refuses a metrics address that is not host:port, naming the key', () => {
    expect(refusal(() => loadConfig({ metricsAddr: 'nine' }, {})).message).toMatch(/metricsAddr: expected host:port/);
  });
});
