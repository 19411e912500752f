import type {
  Caller, ChangeReason, ConnectionPeer, WorkloadBackend, X509SvidItem,
} from '../../agent/workload/index.js';
import { WorkloadError } from '../../agent/workload/index.js';

/** A Caller as this fake attests it: the program the pid runs at identify() time. */
export interface FakeCaller extends Caller {
  readonly program: string;
}

interface Watcher {
  readonly caller: FakeCaller;
  readonly onChange: (reason: ChangeReason) => void;
}

/**
 * WorkloadBackend as Maps: a pid runs a program, a program is entitled to SVIDs. exec() changes
 * a pid's program and tells its watchers; change() and exit() tell them the rest. It counts
 * identify() calls and live subscriptions so a test can see a stream attest and unsubscribe.
 */
export class FakeWorkloadBackend implements WorkloadBackend {
  readonly programs = new Map<number, string>();
  readonly entitlements = new Map<string, X509SvidItem[]>();
  federatedBundles = new Map<string, Buffer>();
  bundles = new Map<string, Buffer>();
  jwks = new Map<string, Buffer>();
  /** Tokens validateJwt() accepts: token → its subject, audiences and claims. */
  readonly tokens = new Map<string, { spiffeId: string; audience: readonly string[]; claims: Record<string, unknown> }>();
  /** Pids whose process is gone: identify() throws CALLER_GONE. */
  readonly gone = new Set<number>();
  /** Pids whose attestation fails otherwise. */
  readonly failing = new Set<number>();
  readonly #watchers = new Set<Watcher>();
  identified = 0;
  subscribed = 0;
  /** x509() calls: a stream making a message asks here first. */
  x509Calls = 0;
  /** x509Bundles() and jwtBundles() calls: the last step of making a bundle stream's message. */
  bundleReads = 0;
  /** The peers identify() was given, in order. */
  readonly peers: ConnectionPeer[] = [];

  get watchers(): number {
    return this.#watchers.size;
  }

  async identify(peer: ConnectionPeer): Promise<FakeCaller> {
    this.identified++;
    this.peers.push(peer);
    if (this.gone.has(peer.pid)) throw new WorkloadError('CALLER_GONE', `pid ${peer.pid} is gone`);
    if (this.failing.has(peer.pid)) throw new WorkloadError('ATTESTATION_FAILED', `pid ${peer.pid} could not be attested`);
    const program = this.programs.get(peer.pid) ?? '/usr/bin/unknown';
    return { peer, program, description: `pid ${peer.pid} (${program}) uid ${peer.uid}` };
  }

  async x509(caller: Caller): Promise<{ svids: readonly X509SvidItem[]; federatedBundles: ReadonlyMap<string, Buffer> }> {
    this.x509Calls++;
    return { svids: this.entitlements.get((caller as FakeCaller).program) ?? [], federatedBundles: this.federatedBundles };
  }

  watch(caller: Caller, onChange: (reason: ChangeReason) => void): () => void {
    const watcher = { caller: caller as FakeCaller, onChange };
    this.#watchers.add(watcher);
    this.subscribed++;
    return () => {
      this.#watchers.delete(watcher);
    };
  }

  async jwtSvids(caller: Caller, audience: readonly string[], spiffeId: string | undefined):
    Promise<ReadonlyArray<{ spiffeId: string; token: string; hint: string }>> {
    return (this.entitlements.get((caller as FakeCaller).program) ?? [])
      .filter((s) => spiffeId === undefined || s.spiffeId === spiffeId)
      .map((s) => ({ spiffeId: s.spiffeId, token: `jwt.${Buffer.from(`${s.spiffeId}|${audience.join(',')}`).toString('base64url')}.sig`, hint: s.hint }));
  }

  x509Bundles(): ReadonlyMap<string, Buffer> {
    this.bundleReads++;
    return this.bundles;
  }

  jwtBundles(): ReadonlyMap<string, Buffer> {
    this.bundleReads++;
    return this.jwks;
  }

  async validateJwt(token: string, audience: string): Promise<{ spiffeId: string; claims: Record<string, unknown> }> {
    const known = this.tokens.get(token);
    if (known === undefined) throw new WorkloadError('INVALID_TOKEN', 'token signature does not verify');
    if (!known.audience.includes(audience)) throw new WorkloadError('INVALID_TOKEN', `token audience does not include ${audience}`);
    return { spiffeId: known.spiffeId, claims: known.claims };
  }

  /** The pid now runs `program`: its watchers hear 'exec'. */
  exec(pid: number, program: string): void {
    this.programs.set(pid, program);
    this.#tell((w) => w.caller.peer.pid === pid, 'exec');
  }

  /** The pid exited: identify() now says CALLER_GONE, and its watchers hear 'exit'. */
  exit(pid: number): void {
    this.gone.add(pid);
    this.#tell((w) => w.caller.peer.pid === pid, 'exit');
  }

  /** Something every caller may care about changed. */
  change(reason: 'rotation' | 'entries' | 'bundle'): void {
    this.#tell(() => true, reason);
  }

  #tell(which: (w: Watcher) => boolean, reason: ChangeReason): void {
    for (const w of [...this.#watchers]) if (which(w)) w.onChange(reason);
  }
}
