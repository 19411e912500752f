import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { SockCounter, decodeProfileEvent, decodeSockEvent, encodeSockRodata, type ProfileEvent, type SockEvent } from './abi.gen.js';
import { checkAbi } from './abi-check.js';
import { BpfLink } from './bpf-link.js';
import { BpfObject } from './bpf-object.js';
import { KernelError } from './errors.js';
import { LinkSet, type LinkCheck } from './link-set.js';
import { meshDestination, meshOriginKey, type MeshDestination } from './mesh-origin.js';
import { native } from './native.js';
import { bpfObjectPath } from './paths.js';
import { RingBuffer } from './ring-buffer.js';
import { sockMaps, type SockMaps } from './sock-maps.js';
import { u32 } from './codec.js';

/** The hooks, each with a link pinned as link_<name>: the cgroup hooks (sockops and the mesh's
 * inbound ingress included) on the agent's cgroup, the identity tracepoints host-wide (they only
 * give identities; the hooks act only in the cgroup). */
const PROGRAMS = [
  'handle_bind4', 'handle_bind6', 'handle_connect4', 'handle_connect6', 'handle_sockops', 'handle_ingress',
  'handle_identity_exec', 'handle_identity_fork', 'handle_identity_exit',
] as const;

/** mesh.inbound's counts over all CPUs: direct SYNs from other hosts to meshed listeners. */
export interface InboundCounts {
  /** dropped (strict) */
  readonly denied: bigint;
  /** let through, unauthenticated (permissive) */
  readonly unauthenticated: bigint;
}

export interface SockProgramsOptions {
  readonly pinDir: string;
  /** The cgroup v2 directory the hooks attach to: never the v2 root in tests. */
  readonly cgroup: string;
  /** bpf/sock.bpf.c compiled; default build/bpf/sock.bpf.o. */
  readonly objectPath?: string;
  /** USER_HZ, the unit of /proc's start times (a coarse identity matches to one tick); default 100. */
  readonly ticksPerSecond?: number;
  /** Given: the sock_events ring is read on the loop and its events handed over in batches
   * (denies and would-denies, connections opened and closed), in the order the kernel wrote them. */
  readonly onEvents?: (events: SockEvent[]) => void;
  /** Given: the profile_events ring (execs by processes of profiled identities in the cgroup:
   * learned, deviating, killed) is read on the loop, each written at once (lib/sock_profile.h). */
  readonly onProfileEvents?: (events: ProfileEvent[]) => void;
  /** The kernel wakes the reader once this many bytes of events wait (0: every event); default 64 KiB. */
  readonly wakeupBytes?: number;
  /** What waits below wakeupBytes is delivered at least this often; default 100 ms. */
  readonly drainIntervalMs?: number;
}

/** The exec tracepoint is host-wide: lib/sock_profile.h acts only on tasks under the cgroup in
 * `profile_cgroup`, the one the hooks attach to. A cgroup array takes the directory's fd; the
 * kernel holds the cgroup itself, so the fd is closed at once. Written on every open: a restarted
 * agent with another --cgroup moves it. */
function setProfileCgroup(object: BpfObject, cgroup: string): void {
  const fd = openSync(cgroup, 'r');
  try {
    object.map('profile_cgroup', u32, u32).update(0, fd);
  } finally {
    closeSync(fd);
  }
}

/** ns per tick, refused unless a whole number of ns (the kernel divides start times by it). */
/** The reader is woken once this much waits (a wake-up per event made connect() a third slower:
 * bench/connect); the rest is drained every drainIntervalMs. A quarter of the 256 KiB ring. */
const DEFAULT_WAKEUP_BYTES = 64 << 10;
const DEFAULT_DRAIN_MS = 100;

function tickNs(ticksPerSecond: number): bigint {
  if (!Number.isInteger(ticksPerSecond) || ticksPerSecond <= 0 || 1e9 % ticksPerSecond !== 0) {
    throw new KernelError('BPF_LOAD', `ticksPerSecond ${ticksPerSecond}: must be a positive integer that divides 1e9`);
  }
  return BigInt(1e9 / ticksPerSecond);
}

/** Maps pinned by name are reused only when their type, sizes and flags are the object's. */
function load(options: SockProgramsOptions): BpfObject {
  const path = options.objectPath ?? bpfObjectPath('sock');
  const initialValues = {
    '.rodata.config': encodeSockRodata({ tickNs: tickNs(options.ticksPerSecond ?? 100), wakeupBytes: options.wakeupBytes ?? DEFAULT_WAKEUP_BYTES }),
  };
  try {
    return BpfObject.load(path, { pinRoot: options.pinDir, initialValues });
  } catch (err) {
    if (err instanceof KernelError && /reuse pinned map/.test(`${err.log ?? ''} ${err.message}`)) {
      throw new KernelError('BPF_LOAD', `the maps pinned under ${options.pinDir} have another layout (pinned by an older tether?): ` +
        `run \`tether uninstall --pin-dir ${options.pinDir}\` and start again`, { cause: err });
    }
    throw err;
  }
}

/**
 * bpf/sock.bpf.c on one cgroup: loaded with its maps pinned under `pinDir`, its bind, connect and
 * sockops programs attached by links pinned there too. A link already pinned (an earlier run) is
 * adopted, not attached again: enforcement never lapses across restarts. release() closes our fds
 * and the event ring's reader and leaves the pins; `tether uninstall` (kernel/uninstall.ts)
 * detaches and removes them.
 */
export class SockPrograms {
  readonly maps: SockMaps;
  /** 'attached' when this call attached a hook, 'adopted' when every link was still pinned. */
  readonly link: 'attached' | 'adopted';
  readonly #object: BpfObject;
  readonly #links: LinkSet;
  readonly #ring: RingBuffer<SockEvent> | undefined;
  readonly #profileRing: RingBuffer<ProfileEvent> | undefined;
  readonly #drainTimer: NodeJS.Timeout | undefined;

  private constructor(object: BpfObject, links: LinkSet, how: 'attached' | 'adopted', rings: {
    sock: RingBuffer<SockEvent> | undefined; profile: RingBuffer<ProfileEvent> | undefined;
  }, drainMs: number) {
    const ring = rings.sock;
    this.#object = object;
    this.#links = links;
    this.#ring = ring;
    this.#profileRing = rings.profile;
    if (ring) this.#drainTimer = setInterval(() => ring.drain(), drainMs).unref();
    this.link = how;
    this.maps = sockMaps(object);
  }

  static open(options: SockProgramsOptions): SockPrograms {
    checkAbi(native().layout()); // events and map values are decoded with abi.gen.ts
    const object = load(options);
    const attach = (program: string): BpfLink =>
      program.startsWith('handle_identity_') ? object.attach(program) : object.attachCgroup(program, options.cgroup);
    const links = new LinkSet(attach);
    let ring: RingBuffer<SockEvent> | undefined;
    let profileRing: RingBuffer<ProfileEvent> | undefined;
    try {
      setProfileCgroup(object, options.cgroup);
      // The reader first: nothing a hook writes after attaching is missed.
      if (options.onEvents) {
        ring = new RingBuffer({ mapFd: object.mapFd('sock_events'), name: 'sock_events', decode: decodeSockEvent, onEvents: options.onEvents });
      }
      if (options.onProfileEvents) {
        profileRing = new RingBuffer({ mapFd: object.mapFd('profile_events'), name: 'profile_events', decode: decodeProfileEvent, onEvents: options.onProfileEvents });
      }
      let adopted = true;
      for (const program of PROGRAMS) {
        const pin = join(options.pinDir, `link_${program.slice('handle_'.length)}`);
        if (existsSync(pin)) {
          links.add(program, BpfLink.openPinned(pin), pin);
          continue;
        }
        adopted = false;
        const link = attach(program);
        links.add(program, link, pin);
        link.pin(pin);
      }
      // A pinned link detached since (`bpftool link detach`) is attached again, not adopted as is.
      if (links.repair().length > 0) adopted = false;
      return new SockPrograms(object, links, adopted ? 'adopted' : 'attached', { sock: ring, profile: profileRing }, options.drainIntervalMs ?? DEFAULT_DRAIN_MS);
    } catch (err) {
      ring?.close();
      profileRing?.close();
      links.release();
      object.close();
      throw err;
    }
  }

  /** Deliver what the event ring holds now, synchronously; 0 without onEvents. */
  drainEvents(): number {
    return (this.#ring?.drain() ?? 0) + (this.#profileRing?.drain() ?? 0);
  }

  /** Events the kernel could not write (the ring was full), over all CPUs, since the maps were pinned. */
  eventsLost(): bigint {
    return this.#counter(SockCounter.EVENTS_LOST);
  }

  /** mesh.inbound's counts since the maps were pinned. */
  inboundCounts(): InboundCounts {
    return { denied: this.#counter(SockCounter.INBOUND_DENIED), unauthenticated: this.#counter(SockCounter.INBOUND_UNAUTHENTICATED) };
  }

  /** Behaviour profiles' counts since the maps were pinned (lib/sock_profile.h). */
  profileCounts(): { readonly execsKilled: bigint; readonly quarantineDenied: bigint; readonly eventsLost: bigint } {
    return {
      execsKilled: this.#counter(SockCounter.EXECS_KILLED), quarantineDenied: this.#counter(SockCounter.QUARANTINE_DENIED),
      eventsLost: this.#counter(SockCounter.PROFILE_EVENTS_LOST),
    };
  }

  #counter(index: SockCounter): bigint {
    return (this.maps.counters.lookup(index) ?? []).reduce((a, b) => a + b, 0n);
  }

  /**
   * Where a connection the kernel redirected to the tunnel listener was going, by the accepted
   * socket's peer address and port (Node's remoteAddress/remotePort); taken, so a second call gets
   * undefined. undefined: not redirected by the kernel (or its record evicted): refuse it.
   */
  meshOrigin(peerAddress: string, peerPort: number): MeshDestination | undefined {
    const origin = this.maps.meshOrigins.take(meshOriginKey(peerAddress, peerPort));
    return origin && meshDestination(origin);
  }

  /** Each hook's link as the kernel has it now: attached, and pinned where a restarted agent looks. */
  check(): LinkCheck[] {
    return this.#links.check();
  }

  /**
   * Attaches again each hook detached behind our back (`tether uninstall`, `bpftool link detach`),
   * on the same cgroup and with the same maps, pinning the new link in place of the stale pin; pins
   * again a link whose pin is gone (and the maps, when the whole pin dir went: a link is only ever
   * pinned beside its maps). Returns what it did; throws a KernelError naming what it could not do.
   */
  repair(): string[] {
    const maps = this.#object.repinMaps().map((path) => `map pinned again at ${path}`);
    return [...maps, ...this.#links.repair()];
  }

  /** Close our fds and the event reader; the pinned links and maps go on enforcing without us. */
  release(): void {
    clearInterval(this.#drainTimer);
    this.#ring?.close();
    this.#profileRing?.close();
    this.#links.release();
    this.#object.close();
  }
}

