import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseCidr, parsePortRange, type Cidr, type PortRange } from '../enforce/index.js';
import { parseListenAddress } from '../telemetry/index.js';

/** A value made by a parser of enforce/ (the policy file's own spelling), its refusal as the issue. */
function parsedBy<T>(parse: (text: string) => { ok: true; value: T } | { ok: false; reason: string }) {
  return z.union([z.string(), z.number()]).transform((value, ctx): T => {
    const result = parse(String(value));
    if (result.ok) return result.value;
    ctx.addIssue({ code: 'custom', message: result.reason });
    return z.NEVER;
  });
}

const tcpPort = z.number().int().min(1).max(65535);

/**
 * Cross-host tunnels (../shared/MESH.md). Absent: off, nothing is redirected. Needs a policy
 * (the redirect runs in the enforcement hooks, after the policy has allowed the connect).
 */
const MeshSchema = z.object({
  /** Remote networks whose connections are tunnelled ("10.0.0.0/8", "fd00::/8"). */
  cidrs: z.array(parsedBy<Cidr>(parseCidr)).min(1, { message: 'list at least one network ("10.0.0.0/8"), or leave mesh out' }),
  /** Only these destination ports are tunnelled ([8080, "9000-9100"]); absent: every port. */
  ports: z.array(parsedBy<PortRange>(parsePortRange)).min(1, { message: 'list ports, or leave ports out to tunnel every port' }).optional(),
  /** The tunnel listener peer agents dial (TLS 1.3), on every address; connects to it are never redirected. */
  port: tcpPort.default(15008),
  /** Where the kernel sends redirected connects: this agent's listener on 127.0.0.1 and ::1. */
  outboundPort: tcpPort.default(15001),
  /** strict: meshed workloads are reachable from other hosts only through the agent (direct SYNs
   * dropped in the kernel); permissive: direct connections still work, each counted and reported. */
  inbound: z.enum(['strict', 'permissive']).default('strict'),
  /** Deadline for a tunnel's handshake and its CONNECT answer. */
  handshakeTimeoutMs: z.number().int().min(100).default(10_000),
}).strict().refine((m) => m.port !== m.outboundPort, { message: 'port and outboundPort must differ', path: ['outboundPort'] });

/** "24h", "30m", "90s", "2d" (or a number of ms) → ms. */
const duration = z.union([z.number().int().positive(), z.string().regex(/^\d+(ms|s|m|h|d)$/, { message: 'a duration: "24h", "30m", "90s", "2d"' })])
  .transform((v) => {
    if (typeof v === 'number') return v;
    const [, n, unit] = /^(\d+)(ms|s|m|h|d)$/.exec(v) as RegExpExecArray;
    return Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as 'ms' | 's' | 'm' | 'h' | 'd'];
  });

/** Behaviour profiles (agent/profile/): only with a policy (they live in the enforcement hooks). */
const ProfilesSchema = z.object({
  /** One YAML file per profiled identity, watched; default <stateDir>/profiles. */
  dir: z.string().min(1).optional(),
  /** How long `learn` lasts before the profile is monitored. */
  learnWindow: duration.default(86_400_000),
  /** How often the kernel's flows and listeners are read for learning and deviations. */
  scanIntervalMs: z.number().int().min(100).default(5_000),
}).strict();

/** Every key with its default, in one place; flags map one to one onto keys (DESIGN.md table). */
const ConfigSchema = z.object({
  /** Absent: example.org, with a warning at start (DESIGN.md). Checked as a SPIFFE trust domain. */
  trustDomain: z.string().min(1).optional(),
  stateDir: z.string().min(1).default('/var/lib/tether'),
  /** The Workload API socket; default <stateDir>/public/agent.sock. */
  socket: z.string().min(1).optional(),
  /** Registration entries (YAML), watched; default <stateDir>/entries.yaml (none there: no identities). */
  entries: z.string().min(1).optional(),
  /** Connection policy (YAML), watched; absent: no hooks are attached, nothing is enforced. */
  policy: z.string().min(1).optional(),
  pinDir: z.string().min(1).default('/sys/fs/bpf/tether'),
  /** The admin API (root-only, mode 0600); default <stateDir>/admin.sock. */
  adminSocket: z.string().min(1).optional(),
  /** Prometheus text at /metrics; "off" serves none. A port already taken is logged, not fatal. */
  metricsAddr: z.string().min(1).default('127.0.0.1:9811').refine((v) => {
    try { parseListenAddress(v); return true; } catch { return false; }
  }, { message: 'expected host:port ("127.0.0.1:9811", "[::1]:9811"), a port (on 127.0.0.1; 0: any free one) or "off"' }),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  /** Stop when the process that started the agent exits (a killed wrapper leaves no agent behind). */
  exitWithParent: z.boolean().default(true),
  ca: z.object({
    /** SPIRE's ca_key_type names. */
    keyType: z.enum(['ec-p256', 'ec-p384', 'rsa-2048']).default('ec-p256'),
    /** Each CA's lifetime; rotation prepares the next at 1/2 and activates it at 5/6 (SPIRE's 24 h). */
    caTtlSeconds: z.number().int().positive().default(86_400),
    /** Each JWT signing key's lifetime; default the CA's. */
    jwtKeyTtlSeconds: z.number().int().positive().optional(),
    /** Sign SVIDs with a per-agent intermediate under the root. */
    intermediate: z.boolean().default(false),
    /**
     * A shared root for every agent of the trust domain (SPIRE's disk UpstreamAuthority): read at
     * start, the key never copied into stateDir; each agent signs with its own intermediate under it
     * (made at start and on rotation, lifetime min(caTtlSeconds, the root's)), and its X.509 bundle
     * is that root. Absent: the agent's own local root. JWT keys stay per agent either way.
     */
    upstream: z.object({
      /** The root certificate (PEM or DER): self-signed, CA:TRUE, keyCertSign, URI SAN (if any) spiffe://<trustDomain>. */
      certFile: z.string().min(1),
      /** Its private key, unencrypted (PEM, or PKCS#8 DER): ec-p256, ec-p384 or rsa-2048. */
      keyFile: z.string().min(1),
    }).strict().optional(),
  }).strict().default({ keyType: 'ec-p256', caTtlSeconds: 86_400, intermediate: false }),
  enforce: z.object({
    /** Where cgroup programs attach; default the cgroup v2 mount root (production). */
    cgroup: z.string().min(1).optional(),
  }).strict().default({}),
  mesh: MeshSchema.optional(),
  profiles: ProfilesSchema.default({ learnWindow: 86_400_000, scanIntervalMs: 5_000 }),
  health: z.object({
    /** How often the kernel programs' links are checked (and repaired when detached behind the
     * agent's back); /readyz shows a fault for about this long. */
    intervalMs: z.number().int().min(100).default(5_000),
  }).strict().default({ intervalMs: 5_000 }),
}).strict();

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'BAD_CONFIG';
}

/** Flags as commander gives them; undefined means "not given". */
export interface ConfigFlags {
  readonly config?: string;
  readonly trustDomain?: string;
  readonly stateDir?: string;
  readonly socket?: string;
  readonly entries?: string;
  readonly policy?: string;
  readonly pinDir?: string;
  readonly cgroup?: string;
  readonly adminSocket?: string;
  readonly metricsAddr?: string;
  /** commander's --no-exit-with-parent gives false. */
  readonly exitWithParent?: boolean;
  readonly logLevel?: string;
}

/** defaults < config file < environment < flags. A bad key is refused naming it. */
export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): Config {
  const file = flags.config ?? env.TETHER_CONFIG;
  const base = file === undefined ? {} : readConfigFile(file);
  const layered = {
    ...base,
    ...defined({
      trustDomain: env.TETHER_TRUST_DOMAIN, stateDir: env.TETHER_STATE_DIR, pinDir: env.TETHER_PIN_DIR, entries: env.TETHER_ENTRIES,
      policy: env.TETHER_POLICY, adminSocket: env.TETHER_ADMIN_SOCKET, metricsAddr: env.TETHER_METRICS_ADDR,
    }),
    ...defined({
      trustDomain: flags.trustDomain, stateDir: flags.stateDir, pinDir: flags.pinDir, logLevel: flags.logLevel,
      socket: flags.socket, entries: flags.entries, policy: flags.policy, adminSocket: flags.adminSocket, metricsAddr: flags.metricsAddr,
      exitWithParent: flags.exitWithParent,
    }),
    enforce: layerEnforce(base.enforce, defined({ cgroup: env.TETHER_CGROUP }), defined({ cgroup: flags.cgroup })),
  };
  const parsed = ConfigSchema.safeParse(layered);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(top level)';
    throw new ConfigError(`${file ?? 'configuration'}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return Object.freeze(parsed.data);
}

/** Merges env and flags into the file's `enforce` mapping; anything else goes to zod as is, so
 * the error names `enforce` and the type it must have. */
function layerEnforce(fromFile: unknown, ...over: object[]): unknown {
  const isMapping = typeof fromFile === 'object' && fromFile !== null && !Array.isArray(fromFile);
  if (fromFile !== undefined && !isMapping) return fromFile;
  return Object.assign({}, fromFile, ...over);
}

function readConfigFile(file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`${file}: the top level must be a mapping of keys`);
  return doc as Record<string, unknown>;
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
