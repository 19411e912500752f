import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ConfigError, loadConfig, type Config } from '../../../agent/daemon/config.js';
import { decide, parsePolicy, type Policy } from '../../../agent/enforce/index.js';
import { matchEntries, parseEntriesFile, type Entry } from '../../../agent/registry/index.js';
import { SpiffeId, TrustDomain } from '../../../agent/spiffe/index.js';

/**
 * deploy/, the Dockerfile and docker-compose.yml: every YAML parses; every config the deployments
 * ship is accepted by the agent's own config schema, every entries and policy file by the agent's
 * own parsers; and the manifests hold what deploy/*\/README.md promise (the five capabilities, not
 * privileged, the host mounts, the probes, the socket the workloads mount, the cgroup that is never
 * the v2 root). Docker, a cluster and systemd as pid 1 are not on these machines; systemd-analyze
 * is, and checks the unit.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8');

/** The capabilities every deployment grants, and no other. */
const CAPS = ['BPF', 'NET_ADMIN', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE'];
const capSet = (caps: readonly string[]): string[] => [...new Set(caps.map((c) => c.toUpperCase().replace(/^CAP_/, '')))].sort();

type Obj = Record<string, unknown>;
const obj = (v: unknown, what: string): Obj => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what}: expected a mapping, got ${JSON.stringify(v)}`);
  return v as Obj;
};
const arr = (v: unknown, what: string): unknown[] => {
  if (!Array.isArray(v)) throw new Error(`${what}: expected a list, got ${JSON.stringify(v)}`);
  return v;
};
const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new Error(`${what}: expected a string, got ${JSON.stringify(v)}`);
  return v;
};

/** Every document of a YAML file, refusing any parse error or warning. */
function yamlDocs(rel: string): Obj[] {
  const docs = parseAllDocuments(read(rel));
  if (!Array.isArray(docs)) throw new Error(`${rel}: not a YAML stream`);
  return docs.map((doc, i) => {
    expect(doc.errors.map((e) => e.message), `${rel} document ${i}`).toEqual([]);
    expect(doc.warnings.map((e) => e.message), `${rel} document ${i}`).toEqual([]);
    return obj(doc.toJS(), `${rel} document ${i}`);
  });
}

let tmp: string;
let n = 0;
/** The agent's own loader on this text (from a file, as --config reads it), with no environment. */
function loadConfigText(text: string): Config {
  const file = join(tmp, `config-${n++}.yaml`);
  writeFileSync(file, text);
  return loadConfig({ config: file }, {});
}
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'tether-deploy-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

function entriesOf(text: string, path: string, config: Config): Entry[] {
  return parseEntriesFile(text, path, TrustDomain.parse(config.trustDomain ?? 'example.org'));
}
function policyOf(text: string, path: string, config: Config): Policy {
  return parsePolicy(text, path, TrustDomain.parse(config.trustDomain ?? 'example.org'));
}
/** The SPIFFE IDs a process with these selectors is given, in entry order. */
const idsFor = (entries: readonly Entry[], selectors: string[]): string[] => matchEntries(entries, new Set(selectors)).map((e) => e.spiffeId.toString());
const inside = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir.replace(/\/$/, '')}/`);
const metricsPort = (addr: string): number => Number(/:(\d+)$/.exec(addr)?.[1]);

// ---------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------

interface Stage { from: string; name: string; lines: string[] }

/** The Dockerfile's instructions (continuations joined, comments dropped), split into stages. */
function dockerStages(): { args: string[]; stages: Stage[] } {
  const joined = read('Dockerfile').split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(/\\\n/g, ' ');
  const args: string[] = [];
  const stages: Stage[] = [];
  for (const line of joined.split('\n').map((l) => l.trim()).filter((l) => l !== '')) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) stages.push({ from: from[1] as string, name: from[2] ?? '', lines: [] });
    else if (stages.length === 0) args.push(line);
    else (stages.at(-1) as Stage).lines.push(line);
  }
  return { args, stages };
}
const instr = (stage: Stage, word: string): string[] => stage.lines.filter((l) => l.toUpperCase().startsWith(`${word} `)).map((l) => l.slice(word.length + 1).trim());
const jsonInstr = (stage: Stage, word: string): string[] => {
  const all = instr(stage, word);
  expect(all.length, `${word} in stage ${stage.name}`).toBeGreaterThan(0);
  return JSON.parse(all.at(-1) as string) as string[];
};

describe('Dockerfile', () => {
  const { args, stages } = dockerStages();
  const build = stages.find((s) => s.name === 'build');
  const runtime = stages.at(-1) as Stage;

  it('has a build stage and a runtime stage, both Node 20 on Debian bookworm', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    expect(args).toContain('ARG NODE_VERSION=20');
    expect(build?.from).toBe('node:${NODE_VERSION}-bookworm');
    expect(runtime.from).toBe('node:${NODE_VERSION}-bookworm-slim');
  });

  it('builds with the BPF toolchain, npm ci and make build', () => {
    const run = instr(build as Stage, 'RUN').join('\n');
    const apt = /apt-get install[^\n]*/.exec(run)?.[0] ?? '';
    for (const pkg of ['clang', 'llvm', 'libbpf-dev', 'bpftool', 'libelf-dev', 'zlib1g-dev', 'pkg-config', 'make', 'g++', 'python3']) {
      expect(apt.split(/\s+/), pkg).toContain(pkg);
    }
    // Every dependency (typescript, node-gyp) from the lock file, then the build, then the production set.
    const fullInstall = run.search(/(^|\s)npm ci(?! --omit=dev)(\s|$)/m);
    const makeBuild = run.search(/(^|\s)make build(\s|$)/m);
    expect(fullInstall).toBeGreaterThanOrEqual(0);
    expect(makeBuild).toBeGreaterThan(fullInstall);
    expect(run.indexOf('npm ci --omit=dev')).toBeGreaterThan(makeBuild);
  });

  it('relies only on what the Makefile still does: the deps marker and the node headers under /usr', () => {
    const makefile = read('Makefile');
    const run = instr(build as Stage, 'RUN').join('\n');
    // The Dockerfile marks `deps` done by touching this file and links the headers node-gyp is pointed at.
    expect(run).toContain('touch build/.deps-deb');
    expect(makefile).toMatch(/^\$\(BUILD\)\/\.deps-deb:/m);
    expect(makefile).toMatch(/^BUILD := build$/m);
    expect(makefile).toContain('npm_config_nodedir=/usr ');
    expect(run).toContain('ln -s /usr/local/include/node /usr/include/node');
    expect(makefile).toMatch(/^build: deps bpf ts addon$/m);
  });

  it('runs only what the agent needs: the shared libraries, the build output, production modules, proto/', () => {
    const run = instr(runtime, 'RUN').join('\n');
    const apt = (/apt-get install[^\n]*/.exec(run)?.[0] ?? '').split(/\s+/);
    for (const lib of ['libbpf1', 'libelf1', 'zlib1g']) expect(apt, lib).toContain(lib);
    for (const tool of ['clang', 'llvm', 'bpftool', 'make', 'g++', 'libbpf-dev']) expect(apt, tool).not.toContain(tool);
    const copies = instr(runtime, 'COPY');
    for (const [src, dst] of [['/prod/node_modules', './node_modules'], ['/src/build/agent', './build/agent'],
      ['/src/build/bpf', './build/bpf'], ['/src/build/native', './build/native'], ['/src/proto', './proto']]) {
      expect(copies, src).toContain(`--from=build ${src} ${dst}`);
    }
    // package.json marks the package root the agent finds build/ and proto/ from.
    expect(copies.some((c) => c.startsWith('--from=build') && c.includes('/src/package.json'))).toBe(true);
    expect(instr(runtime, 'WORKDIR')).toEqual(['/opt/tether']);
  });

  it('starts `tether agent run --config /etc/tether/config.yaml`, and has `tether` on PATH for the probes', () => {
    expect(jsonInstr(runtime, 'ENTRYPOINT')).toEqual(['node', '/opt/tether/build/agent/cli/bin.js']);
    expect(jsonInstr(runtime, 'CMD')).toEqual(['agent', 'run', '--config', '/etc/tether/config.yaml']);
    // The entrypoint is what `make build` makes of agent/cli/bin.ts (package.json's bin).
    expect(existsSync(join(ROOT, 'agent/cli/bin.ts'))).toBe(true);
    expect(obj(JSON.parse(read('package.json')), 'package.json').bin).toEqual({ tether: 'build/agent/cli/bin.js' });
    expect(instr(runtime, 'RUN').join('\n')).toContain('ln -s /opt/tether/build/agent/cli/bin.js /usr/local/bin/tether');
  });

  it('copies from the context only files that exist, and ships a default config the agent accepts', () => {
    for (const stage of stages) {
      for (const copy of instr(stage, 'COPY').filter((c) => !c.startsWith('--from='))) {
        const parts = copy.split(/\s+/);
        for (const src of parts.slice(0, -1)) expect(existsSync(join(ROOT, src)), `${stage.name}: COPY ${src}`).toBe(true);
      }
    }
    expect(instr(runtime, 'COPY')).toContain('deploy/container/config.yaml /etc/tether/config.yaml');
    const config = loadConfigText(read('deploy/container/config.yaml'));
    expect(config.policy).toBeUndefined(); // the image alone enforces nothing
    expect(config.socket).toBe('/run/tether/public/agent.sock');
  });

  it('.dockerignore leaves out node_modules, build and .git, and nothing `make build` reads', () => {
    const patterns = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    for (const p of ['node_modules', 'build', '.git']) expect(patterns, p).toContain(p);
    const ignored = (path: string): boolean => patterns.some((p) => (p.startsWith('*.')
      ? path.endsWith(p.slice(1)) : path === p || path.startsWith(`${p}/`)));
    expect(ignored('node_modules/yaml/package.json')).toBe(true); // the matcher itself works
    for (const needed of ['Makefile', 'package.json', 'package-lock.json', 'tsconfig.json', 'agent/cli/bin.ts', 'bench/mint.ts',
      'bpf/sock.bpf.c', 'bpf/include/tether_abi.h', 'bpf/include/vmlinux.h', 'native/binding.gyp', 'native/src/addon.cc',
      'proto/workload.proto', 'test/bpf', 'deploy/container/config.yaml']) {
      expect(ignored(needed), needed).toBe(false);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------------------------

const K8S = 'deploy/kubernetes';
const MANIFESTS = ['namespace.yaml', 'serviceaccount.yaml', 'configmap.yaml', 'daemonset.yaml', 'workload-example.yaml', 'kustomization.yaml'];

describe('deploy/kubernetes', () => {
  const docs = Object.fromEntries(MANIFESTS.map((f) => [f, yamlDocs(`${K8S}/${f}`)]));
  const one = (file: string, kind: string): Obj => {
    const found = (docs[file] ?? []).filter((d) => d.kind === kind);
    expect(found.length, `${file}: one ${kind}`).toBe(1);
    return found[0] as Obj;
  };
  const ds = one('daemonset.yaml', 'DaemonSet');
  const cm = one('configmap.yaml', 'ConfigMap');
  const sa = one('serviceaccount.yaml', 'ServiceAccount');
  const ns = one('namespace.yaml', 'Namespace');
  const pod = obj(obj(obj(ds.spec, 'spec').template, 'template').spec, 'pod spec');
  const containers = arr(pod.containers, 'containers').map((c, i) => obj(c, `container ${i}`));
  const initContainers = arr(pod.initContainers ?? [], 'initContainers').map((c, i) => obj(c, `init container ${i}`));
  const agent = containers.find((c) => c.name === 'tether') as Obj;
  const sc = obj(agent.securityContext, 'securityContext');
  const data = obj(cm.data, 'ConfigMap data');
  const cmConfigText = str(data['config.yaml'], 'config.yaml');
  const volumes = new Map(arr(pod.volumes, 'volumes').map((v) => { const o = obj(v, 'volume'); return [str(o.name, 'volume name'), o] as const; }));
  const mounts = arr(agent.volumeMounts, 'volumeMounts').map((m) => obj(m, 'volumeMount'));
  const mountAt = (path: string): Obj => {
    const m = mounts.find((x) => x.mountPath === path);
    expect(m, `a volumeMount at ${path}`).toBeDefined();
    return m as Obj;
  };
  const hostPathOf = (m: Obj): Obj => obj(obj(volumes.get(str(m.name, 'mount name')), `volume ${String(m.name)}`).hostPath, `hostPath of ${String(m.name)}`);

  it('puts the agent in its namespace, namespace first in the kustomization', () => {
    const k = one('kustomization.yaml', 'Kustomization');
    const resources = arr(k.resources, 'resources');
    expect(resources[0]).toBe('namespace.yaml');
    expect([...resources].sort()).toEqual(['configmap.yaml', 'daemonset.yaml', 'namespace.yaml', 'serviceaccount.yaml']);
    const name = obj(ns.metadata, 'ns metadata').name;
    for (const o of [ds, cm, sa]) expect(obj(o.metadata, 'metadata').namespace).toBe(name);
    expect(obj(obj(ns.metadata, 'ns metadata').labels, 'labels')['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });

  it('uses the host pid and network namespaces, the ServiceAccount, no API token', () => {
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(pod.serviceAccountName).toBe(obj(sa.metadata, 'sa metadata').name);
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('is not privileged: exactly the five capabilities, every other dropped', () => {
    expect(sc.privileged).toBe(false);
    expect(capSet(arr(obj(sc.capabilities, 'capabilities').add, 'add') as string[])).toEqual(CAPS);
    expect(obj(sc.capabilities, 'capabilities').drop).toEqual(['ALL']);
    expect(sc.allowPrivilegeEscalation).not.toBe(false); // the API refuses false with SYS_ADMIN added
    expect(obj(sc.appArmorProfile, 'appArmorProfile').type).toBe('Unconfined');
    expect(obj(sc.seccompProfile, 'seccompProfile').type).toBe('RuntimeDefault');
    for (const c of [...containers, ...initContainers]) {
      const csc = obj(c.securityContext ?? {}, 'securityContext');
      expect(csc.privileged, String(c.name)).not.toBe(true);
      if (c !== agent) expect(obj(csc.capabilities ?? {}, 'capabilities').add ?? [], String(c.name)).toEqual([]);
    }
  });

  it('mounts bpffs, cgroupfs, BTF (read-only), the state dir and the socket dir from the host; /proc comes with hostPID', () => {
    const expected: Array<[mountPath: string, hostPath: string, type: string, readOnly: boolean]> = [
      ['/sys/fs/bpf', '/sys/fs/bpf', 'Directory', false],
      ['/sys/fs/cgroup', '/sys/fs/cgroup', 'Directory', true],
      ['/sys/kernel/btf', '/sys/kernel/btf', 'Directory', true],
      ['/var/lib/tether', '/var/lib/tether', 'DirectoryOrCreate', false],
      ['/run/tether', '/run/tether', 'DirectoryOrCreate', false],
    ];
    for (const [mountPath, hostPath, type, readOnly] of expected) {
      const m = mountAt(mountPath);
      expect(hostPathOf(m), mountPath).toEqual({ path: hostPath, type });
      expect(m.readOnly === true, `${mountPath} read-only`).toBe(readOnly);
    }
    // Bidirectional needs a privileged container; the pins need no propagation.
    expect(mountAt('/sys/fs/bpf').mountPropagation).toBe('HostToContainer');
    const hostPaths = [...volumes.values()].filter((v) => v.hostPath !== undefined).map((v) => str(obj(v.hostPath, 'hostPath').path, 'path'));
    expect(hostPaths.sort()).toEqual(expected.map((e) => e[1]).sort());
    expect(hostPaths.some((p) => inside(p, '/proc'))).toBe(false);
    for (const m of [...mounts, ...initContainers.flatMap((c) => arr(c.volumeMounts ?? [], 'mounts').map((x) => obj(x, 'mount')))]) {
      expect(volumes.has(str(m.name, 'mount name')), `volume ${String(m.name)}`).toBe(true);
    }
    const config = mountAt('/etc/tether');
    expect(config.readOnly).toBe(true);
    expect(obj(volumes.get(str(config.name, 'name'))?.configMap, 'configMap volume').name).toBe(obj(cm.metadata, 'cm metadata').name);
  });

  it('runs the image\'s entrypoint in the host cgroup namespace: `agent run --config` the ConfigMap\'s config.yaml', () => {
    const { stages } = dockerStages();
    const entrypoint = jsonInstr(stages.at(-1) as Stage, 'ENTRYPOINT');
    const command = arr(agent.command, 'command') as string[];
    expect(command.slice(0, 3)).toEqual(['nsenter', '--cgroup=/proc/1/ns/cgroup', '--']);
    expect(command.slice(3)).toEqual(entrypoint);
    const args = arr(agent.args, 'args') as string[];
    expect(args.slice(0, 3)).toEqual(['agent', 'run', '--config']);
    const configPath = args[3] as string;
    expect(posix.dirname(configPath)).toBe('/etc/tether');
    expect(Object.keys(data)).toContain(posix.basename(configPath));
    expect(args).toHaveLength(4); // everything else comes from the config file
  });

  it('probes: liveness `tether healthcheck`, readiness GET /readyz on the metrics address, on the node\'s loopback', () => {
    expect(obj(obj(agent.livenessProbe, 'livenessProbe').exec, 'exec').command).toEqual(['tether', 'healthcheck']);
    const get = obj(obj(agent.readinessProbe, 'readinessProbe').httpGet, 'httpGet');
    expect(get.path).toBe('/readyz');
    const config = loadConfigText(cmConfigText);
    expect(config.metricsAddr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(get.host).toBe('127.0.0.1');
    expect(get.port).toBe(metricsPort(config.metricsAddr));
  });

  it('tells `tether` in the container where the agent is, as config.yaml does', () => {
    const config = loadConfigText(cmConfigText);
    const env = new Map(arr(agent.env, 'env').map((e) => { const o = obj(e, 'env'); return [str(o.name, 'name'), str(o.value, 'value')] as const; }));
    expect(env.get('TETHER_CONFIG')).toBe((agent.args as string[])[3]);
    expect(env.get('TETHER_ADMIN_SOCKET')).toBe(config.adminSocket);
    expect(env.get('SPIFFE_ENDPOINT_SOCKET')).toBe(`unix://${config.socket ?? ''}`);
  });

  describe('configmap.yaml', () => {
    it('config.yaml is accepted by the agent\'s config schema, which refuses an unknown key', () => {
      expect(() => loadConfigText(cmConfigText)).not.toThrow();
      expect(() => loadConfigText(`${cmConfigText}\nnotAKey: 1\n`)).toThrow(ConfigError);
    });

    it('config.yaml names every key, with the default wherever it keeps one', () => {
      const defaults = loadConfigText('') as unknown as Obj;
      const given = obj(parseYaml(cmConfigText), 'config.yaml');
      // The keys without a default (absent from `defaults`): each is set, or shown commented out.
      const optional = ['trustDomain', 'socket', 'entries', 'policy', 'adminSocket', 'ca.jwtKeyTtlSeconds', 'ca.upstream', 'enforce.cgroup', 'profiles.dir'];
      const commentedOut = (key: string): boolean => new RegExp(`^\\s*#\\s*${key.split('.').at(-1) as string}:`, 'm').test(cmConfigText);
      const at = (o: Obj, dotted: string): unknown => dotted.split('.').reduce<unknown>((v, k) => (v as Obj | undefined)?.[k], o);
      const defaulted = Object.entries(defaults).flatMap(([k, v]) => (typeof v === 'object' && v !== null
        ? Object.keys(v as Obj).map((i) => `${k}.${i}`) : [k]));
      expect(defaulted.length).toBeGreaterThan(5);
      for (const key of defaulted) expect(at(given, key), `${key}: its default`).toEqual(at(defaults, key));
      for (const key of optional) expect(at(given, key) !== undefined || commentedOut(key), `${key}: set or commented out`).toBe(true);
      for (const key of Object.keys(given)) expect([...defaulted, ...optional].some((k) => k.split('.')[0] === key), key).toBe(true);
    });

    it('puts the state, the sockets, the pins and the config where the DaemonSet mounts them; the hooks on the pods, not the v2 root', () => {
      const config = loadConfigText(cmConfigText);
      expect(config.stateDir).toBe('/var/lib/tether');
      expect(config.socket).toBe('/run/tether/public/agent.sock');
      expect(inside(config.adminSocket ?? '', '/run/tether')).toBe(true);
      expect(inside(config.adminSocket ?? '', '/run/tether/public')).toBe(false); // workloads must not see it
      expect(inside(config.pinDir, '/sys/fs/bpf')).toBe(true);
      for (const file of [config.entries, config.policy]) {
        expect(posix.dirname(file ?? '')).toBe('/etc/tether');
        expect(Object.keys(data)).toContain(posix.basename(file ?? ''));
      }
      const cgroup = config.enforce.cgroup ?? '/sys/fs/cgroup';
      expect(inside(cgroup, '/sys/fs/cgroup')).toBe(true);
      expect(posix.normalize(cgroup)).not.toBe('/sys/fs/cgroup');
    });

    it('entries.yaml and policy.yaml are accepted by the agent\'s parsers; the policy starts in audit mode', () => {
      const config = loadConfigText(cmConfigText);
      const entries = entriesOf(str(data['entries.yaml'], 'entries.yaml'), 'entries.yaml', config);
      expect(entries.length).toBeGreaterThan(0);
      const policy = policyOf(str(data['policy.yaml'], 'policy.yaml'), 'policy.yaml', config);
      expect(policy.mode).toBe('audit');
      expect(policy.rules.length).toBeGreaterThan(0);
      // The parsers are live: an entry outside the trust domain is refused.
      expect(() => entriesOf('entries:\n  - spiffeId: spiffe://elsewhere.test/x\n    selectors: ["unix:uid:1"]\n', 'x.yaml', config)).toThrow();
    });
  });

  describe('workload-example.yaml', () => {
    const dep = one('workload-example.yaml', 'Deployment');
    const wpod = obj(obj(obj(dep.spec, 'spec').template, 'template').spec, 'pod spec');
    const [web] = arr(wpod.containers, 'containers').map((c) => obj(c, 'container'));
    const config = (): Config => loadConfigText(cmConfigText);

    it('mounts the agent\'s socket directory read-only and points SPIFFE_ENDPOINT_SOCKET at the socket in it', () => {
      const socket = config().socket ?? '';
      const vol = arr(wpod.volumes, 'volumes').map((v) => obj(v, 'volume')).find((v) => v.hostPath !== undefined) as Obj;
      expect(obj(vol.hostPath, 'hostPath').path).toBe(posix.dirname(socket));
      const mount = arr(web?.volumeMounts, 'mounts').map((m) => obj(m, 'mount')).find((m) => m.name === vol.name) as Obj;
      expect(mount.readOnly).toBe(true);
      const env = arr(web?.env, 'env').map((e) => obj(e, 'env')).find((e) => e.name === 'SPIFFE_ENDPOINT_SOCKET');
      expect(env?.value).toBe('unix:///run/spiffe/agent.sock');
      expect(`unix://${posix.join(str(mount.mountPath, 'mountPath'), posix.basename(socket))}`).toBe(env?.value);
      expect(arr(wpod.volumes, 'volumes').filter((v) => obj(v, 'volume').hostPath !== undefined)).toHaveLength(1);
    });

    it('runs unprivileged as the uid an entry names, with the agent\'s image', () => {
      const uid = obj(wpod.securityContext, 'securityContext').runAsUser;
      const entries = entriesOf(str(data['entries.yaml'], 'entries.yaml'), 'entries.yaml', config());
      expect(idsFor(entries, [`unix:uid:${String(uid)}`, `unix:gid:${String(uid)}`])).toEqual(['spiffe://example.org/ns/default/sa/example-web']);
      expect(obj(web?.securityContext, 'securityContext').allowPrivilegeEscalation).toBe(false);
      expect(obj(obj(web?.securityContext, 'securityContext').capabilities, 'caps').drop).toEqual(['ALL']);
      expect(wpod.hostPID).toBeUndefined();
      expect(web?.image).toBe(agent.image);
    });
  });

  it('kubectl kustomize renders the four resources (skipped: kubectl is not installed)', { skip: !hasCommand('kubectl') }, () => {
    const out = spawnSync('kubectl', ['kustomize', join(ROOT, K8S)], { encoding: 'utf8', timeout: 60_000 });
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    const kinds = parseAllDocuments(out.stdout) as unknown as Array<{ toJS(): Obj }>;
    expect(kinds.map((d) => d.toJS().kind)).toEqual(['Namespace', 'ServiceAccount', 'ConfigMap', 'DaemonSet']);
  });
});

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
}

// ---------------------------------------------------------------------------------------------
// systemd
// ---------------------------------------------------------------------------------------------

/** A unit file's settings: section → key → every value given, in order. */
function unitSettings(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) { current = new Map(); sections.set(section[1] as string, current); continue; }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || !current) throw new Error(`not a unit file line: ${line}`);
    current.set(kv[1] as string, [...(current.get(kv[1] as string) ?? []), kv[2] as string]);
  }
  return sections;
}

describe('deploy/systemd', () => {
  const UNIT = 'deploy/systemd/tether.service';
  const settings = unitSettings(read(UNIT));
  const service = settings.get('Service') ?? new Map<string, string[]>();
  const one = (key: string): string => {
    const v = service.get(key) ?? [];
    expect(v, key).toHaveLength(1);
    return v[0] as string;
  };
  const words = (key: string): string[] => (service.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter((w) => w !== '');
  const config = (): Config => loadConfigText(read('deploy/systemd/config.yaml'));

  it('runs `tether agent run --config`, reloads with SIGHUP, restarts on failure', () => {
    expect(one('Type')).toBe('simple');
    expect(one('ExecStart')).toBe('/usr/local/bin/tether agent run --config /etc/tether/config.yaml');
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('Restart')).toBe('on-failure');
    expect(settings.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('holds the same five capabilities and no others', () => {
    expect(one('User')).toBe('root');
    expect(capSet(words('CapabilityBoundingSet'))).toEqual(CAPS);
    expect(capSet(words('AmbientCapabilities'))).toEqual(CAPS);
    expect(words('CapabilityBoundingSet').every((c) => c.startsWith('CAP_'))).toBe(true);
    expect(one('NoNewPrivileges')).toBe('yes');
  });

  it('is hardened without breaking BPF: bpffs, the state and the sockets stay writable, /proc stays whole', () => {
    expect(one('ProtectSystem')).toBe('strict');
    const rw = words('ReadWritePaths');
    for (const p of ['/var/lib/tether', '/run/tether', '/sys/fs/bpf']) expect(rw, p).toContain(p);
    // ProtectKernelTunables makes /sys read-only: only ReadWritePaths=/sys/fs/bpf keeps pinning possible.
    expect(one('ProtectKernelTunables')).toBe('yes');
    expect(one('ProtectHome')).toBe('read-only');
    expect(one('StateDirectory')).toBe('tether');
    expect(one('RuntimeDirectory')).toBe('tether');
    expect(one('RuntimeDirectoryPreserve')).toBe('yes');
    expect(settings.get('Unit')?.get('AssertPathIsMountPoint')).toEqual(['/sys/fs/bpf']);
    expect(words('RestrictAddressFamilies')).toEqual(expect.arrayContaining(['AF_UNIX', 'AF_INET', 'AF_INET6', 'AF_NETLINK']));
    // Each of these breaks the agent (the unit's comments say how).
    for (const key of ['ProtectProc', 'ProcSubset', 'PrivateNetwork', 'MemoryDenyWriteExecute', 'UMask', 'SystemCallFilter', 'PrivateUsers', 'DynamicUser', 'PrivateTmp']) {
      expect(service.has(key), key).toBe(false);
    }
  });

  it('config.yaml is accepted by the agent and uses the unit\'s directories', () => {
    const c = config();
    expect(c.stateDir).toBe(`/var/lib/${one('StateDirectory')}`);
    for (const sock of [c.socket, c.adminSocket]) expect(inside(sock ?? '', `/run/${one('RuntimeDirectory')}`), sock).toBe(true);
    expect(inside(c.pinDir, '/sys/fs/bpf')).toBe(true);
    expect(c.entries).toBe(`/etc/${one('ConfigurationDirectory')}/entries.yaml`);
    // `tether policy apply` renames into the policy's directory.
    expect(words('ReadWritePaths')).toContain(posix.dirname(c.policy ?? ''));
    expect(c.metricsAddr).toBe('127.0.0.1:9811');
  });

  it('entries.yaml and policy.yaml are accepted by the agent\'s parsers', () => {
    const c = config();
    expect(entriesOf(read('deploy/systemd/entries.yaml'), 'entries.yaml', c).length).toBeGreaterThan(0);
    expect(policyOf(read('deploy/systemd/policy.yaml'), 'policy.yaml', c).mode).toBe('audit');
  });

  const analyze = hasCommand('systemd-analyze');
  it('systemd-analyze verify finds nothing wrong but the not yet installed binary (skipped: systemd-analyze is not installed)', { skip: !analyze }, () => {
    const out = spawnSync('systemd-analyze', ['verify', join(ROOT, UNIT)], { encoding: 'utf8', timeout: 60_000 });
    const missing = 'tether.service: Command /usr/local/bin/tether is not executable: No such file or directory';
    const problems = `${out.stdout}\n${out.stderr}`.split('\n').map((l) => l.trim())
      .filter((l) => l !== '' && !(l === missing && !existsSync('/usr/local/bin/tether')));
    expect(problems).toEqual([]);
  });

  it('systemd-analyze security rates the unit at most 5.0 (skipped: systemd-analyze is not installed)', { skip: !analyze }, () => {
    const out = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', join(ROOT, UNIT)], { encoding: 'utf8', timeout: 60_000 });
    const level = /Overall exposure level for tether\.service: (\d+(?:\.\d+)?)/.exec(out.stdout)?.[1];
    expect(level, out.stdout + out.stderr).toBeDefined();
    expect(Number(level)).toBeLessThanOrEqual(5.0);
  });
});

// ---------------------------------------------------------------------------------------------
// docker compose
// ---------------------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  const [compose] = yamlDocs('docker-compose.yml');
  const services = obj(compose?.services, 'services');
  const svc = (name: string): Obj => obj(services[name], `service ${name}`);
  const agent = svc('agent');
  const WORKLOADS = ['api', 'web', 'intruder', 'whoami'];
  const config = (): Config => loadConfigText(read('deploy/compose/config.yaml'));
  /** "source:target[:mode]" of a service's volumes. */
  const volumesOf = (s: Obj): Array<{ source: string; target: string; ro: boolean }> => arr(s.volumes ?? [], 'volumes').map((v) => {
    const [source, target, mode] = str(v, 'volume').split(':');
    return { source: source as string, target: target as string, ro: mode === 'ro' };
  });

  it('builds the agent from the Dockerfile and runs `agent run --config` as the image\'s CMD does', () => {
    expect(agent.build).toBe('.');
    const { stages } = dockerStages();
    expect(agent.command).toEqual(jsonInstr(stages.at(-1) as Stage, 'CMD'));
    expect(obj(agent.healthcheck, 'healthcheck').test).toEqual(['CMD', 'tether', 'healthcheck']);
  });

  it('the agent is not privileged: the five capabilities, the host pid, network and cgroup namespaces', () => {
    expect(agent.privileged).toBe(false);
    for (const [name, s] of Object.entries(services)) expect(obj(s, name).privileged, name).not.toBe(true);
    expect(capSet(arr(agent.cap_add, 'cap_add') as string[])).toEqual(CAPS);
    expect(agent.cap_drop).toEqual(['ALL']);
    expect(agent.pid).toBe('host');
    expect(agent.network_mode).toBe('host');
    expect(agent.cgroup).toBe('host');
    const vols = volumesOf(agent);
    const find = (target: string) => vols.find((v) => v.target === target);
    expect(find('/sys/fs/bpf')).toEqual({ source: '/sys/fs/bpf', target: '/sys/fs/bpf', ro: false });
    expect(find('/sys/fs/cgroup')?.source).toBe('/sys/fs/cgroup');
    expect(find('/sys/kernel/btf')).toEqual({ source: '/sys/kernel/btf', target: '/sys/kernel/btf', ro: true });
    expect(find('/etc/tether')).toEqual({ source: './deploy/compose', target: '/etc/tether', ro: true });
    const declared = Object.keys(obj(compose?.volumes, 'volumes'));
    expect(declared).toContain(find('/run/tether/public')?.source);
    expect(declared).toContain(find('/var/lib/tether')?.source);
  });

  it('config.yaml is accepted by the agent; its socket is on the shared volume and its hooks on the workloads\' cgroup parent, never the v2 root', () => {
    const c = config();
    expect(posix.dirname(c.socket ?? '')).toBe('/run/tether/public');
    const cgroup = c.enforce.cgroup ?? '/sys/fs/cgroup';
    expect(posix.normalize(cgroup)).not.toBe('/sys/fs/cgroup');
    for (const name of WORKLOADS) {
      const parent = str(svc(name).cgroup_parent, `${name}.cgroup_parent`);
      expect(parent, name).not.toContain('-'); // the same path under the systemd and cgroupfs drivers
      expect(`/sys/fs/cgroup/${parent}`, name).toBe(cgroup);
    }
    // The agent refuses a cgroup that does not exist: the `cgroup` service makes exactly this one first.
    expect(svc('cgroup').entrypoint).toEqual(['mkdir', '-p', cgroup]);
    expect(obj(obj(agent.depends_on, 'depends_on').cgroup, 'cgroup').condition).toBe('service_completed_successfully');
    expect(c.pinDir).not.toBe('/sys/fs/bpf/tether');
    expect(metricsPort(c.metricsAddr)).not.toBe(9811);
    const env = obj(agent.environment, 'environment');
    expect(env.TETHER_ADMIN_SOCKET).toBe(c.adminSocket);
    expect(env.SPIFFE_ENDPOINT_SOCKET).toBe(`unix://${c.socket ?? ''}`);
  });

  it('every workload mounts the socket volume read-only, finds it through SPIFFE_ENDPOINT_SOCKET, and starts after the agent is healthy', () => {
    const c = config();
    const socketVolume = volumesOf(agent).find((v) => v.target === posix.dirname(c.socket ?? ''))?.source;
    for (const name of WORKLOADS) {
      const s = svc(name);
      const mount = volumesOf(s).find((v) => v.source === socketVolume);
      expect(mount?.ro, name).toBe(true);
      expect(obj(s.environment, 'environment').SPIFFE_ENDPOINT_SOCKET, name).toBe(`unix://${posix.join(mount?.target ?? '', posix.basename(c.socket ?? ''))}`);
      expect(s.privileged, name).toBeUndefined();
      expect(s.cap_add, name).toBeUndefined();
    }
    for (const name of ['api', 'whoami']) expect(obj(obj(svc(name).depends_on, 'depends_on').agent, 'agent').condition, name).toBe('service_healthy');
    for (const name of ['web', 'intruder']) expect(obj(svc(name).depends_on, 'depends_on').api, name).toBeDefined();
    for (const name of ['api', 'web', 'intruder']) {
      const files = volumesOf(svc(name)).filter((x) => x.source.startsWith('./'));
      expect(files.length, name).toBeGreaterThan(0);
      for (const v of files) {
        expect(existsSync(join(ROOT, v.source)), v.source).toBe(true);
        expect(v.ro, v.source).toBe(true);
        expect(arr(svc(name).command, `${name}.command`), name).toContain(v.target); // the service runs the file it mounts
      }
    }
  });

  it('entries and policy are accepted by the agent: web reaches api on its port, the intruder nothing', () => {
    const c = config();
    const entries = entriesOf(read('deploy/compose/entries.yaml'), 'entries.yaml', c);
    const policy = policyOf(read('deploy/compose/policy.yaml'), 'policy.yaml', c);
    /** What the kernel reports of a process of this service (its image's python, its uid). */
    const idOf = (name: string): SpiffeId => {
      const uid = str(svc(name).user, `${name}.user`).split(':')[0] as string;
      const ids = idsFor(entries, [`unix:uid:${uid}`, `unix:gid:${uid}`, 'unix:path:/usr/local/bin/python3.12']);
      expect(ids, name).toHaveLength(1);
      return SpiffeId.parse(ids[0] as string);
    };
    const port = Number(arr(svc('api').command, 'api.command').find((a) => /^\d+$/.test(String(a))));
    expect(port).toBe(18080);
    expect(arr(svc('web').command, 'web.command')).toContain(`http://127.0.0.1:${port}/`);
    const api = { kind: 'identity', id: idOf('api') } as const;
    expect(policy.mode).toBe('enforce');
    expect(decide(policy, idOf('web'), api, port).verdict).toBe('allow');
    expect(decide(policy, idOf('web'), api, port + 1).verdict).toBe('deny');
    expect(decide(policy, idOf('intruder'), api, port).verdict).toBe('deny');
    expect(decide(policy, null, api, port).verdict).toBe('deny'); // fail-closed: no identity, no connect
    expect(idOf('whoami').toString()).toBe(idOf('web').toString()); // whoami shows web's identity
  });
});
