import { LAYOUT, Counter, decodeProcEvent, decodeErrKey, encodeErrKey, encodeProcConfig, type ProcEvent, type ErrKey } from './abi.gen.js';
import { checkAbi } from './abi-check.js';
import { BpfObject } from './bpf-object.js';
import { LinkSet, type LinkCheck } from './link-set.js';
import type { BpfMap } from './bpf-map.js';
import { perCpu, u32, u64, structCodec } from './codec.js';
import { native } from './native.js';
import { bpfObjectPath } from './paths.js';
import { RingBuffer } from './ring-buffer.js';

export interface ProcEventSourceOptions {
  /** Called on the loop with each wake-up's events, in the order the kernel wrote them. */
  readonly onEvents: (events: ProcEvent[]) => void;
  /** bpf/proc.bpf.c compiled; default build/bpf/proc.bpf.o. */
  readonly objectPath?: string;
  /** Ring buffer size in bytes (a power of two, at least a page); default the object's 4 MiB. */
  readonly ringBytes?: number;
  /** The kernel wakes the loop once this much is waiting (default 16 KiB, ~46 events): one
   * wake-up per event would cost more than the event under an exec storm. */
  readonly wakeupBytes?: number;
  /** What is waiting below wakeupBytes is delivered at least this often (default 50 ms). */
  readonly drainIntervalMs?: number;
}

export interface ProcCounters { readonly events: bigint; readonly drops: bigint }
export interface BpfErrorCount { readonly file: number; readonly line: number; readonly err: number; readonly count: bigint }

/** At most half the ring, so a small ring still wakes the loop before it fills. */
function wakeupBytes(options: ProcEventSourceOptions): number {
  const wanted = options.wakeupBytes ?? 16 << 10;
  return options.ringBytes === undefined ? wanted : Math.min(wanted, options.ringBytes / 2);
}

const PROGRAMS = ['handle_exec', 'handle_fork', 'handle_exit', 'handle_cgroup_move'] as const;

/**
 * The exec/fork/exit/cgroup-move tracepoints of bpf/proc.bpf.c, attached (not pinned: they end
 * with the agent), with their ring buffer consumed on the loop. Owns the object, the links and
 * the ring until close().
 */
export class ProcEventSource {
  readonly #object: BpfObject;
  readonly #links: LinkSet;
  readonly #ring: RingBuffer<ProcEvent>;
  readonly #counters: BpfMap<number, bigint[]>;
  readonly #lost: BpfMap<number, bigint>;
  readonly #errors: BpfMap<ErrKey, bigint[]>;
  readonly #timer: NodeJS.Timeout;

  private constructor(object: BpfObject, links: LinkSet, ring: RingBuffer<ProcEvent>, drainIntervalMs: number) {
    const cpus = native().possibleCpus();
    this.#object = object;
    this.#links = links;
    this.#ring = ring;
    this.#counters = object.map('proc_counters', u32, perCpu(u64, cpus));
    this.#lost = object.map('proc_lost', u32, u64);
    this.#errors = object.map('errors', structCodec(LAYOUT.tether_err_key.size, encodeErrKey, decodeErrKey), perCpu(u64, cpus));
    // unref: a quiet ring must not keep the process alive
    this.#timer = setInterval(() => ring.drain(), drainIntervalMs).unref();
  }

  static open(options: ProcEventSourceOptions): ProcEventSource {
    checkAbi(native().layout());
    const object = BpfObject.load(options.objectPath ?? bpfObjectPath('proc'), {
      ...(options.ringBytes === undefined ? {} : { maxEntries: { proc_events: options.ringBytes } }),
      initialValues: { '.rodata.config': encodeProcConfig({ wakeupBytes: wakeupBytes(options) }) },
    });
    const links = new LinkSet((program) => object.attach(program));
    try {
      const ring = new RingBuffer({
        mapFd: object.mapFd('proc_events'), name: 'proc_events', decode: decodeProcEvent, onEvents: options.onEvents,
      });
      try {
        for (const p of PROGRAMS) links.add(p, object.attach(p));
      } catch (err) {
        ring.close();
        throw err;
      }
      return new ProcEventSource(object, links, ring, options.drainIntervalMs ?? 50);
    } catch (err) {
      links.destroy();
      object.close();
      throw err;
    }
  }

  /** Deliver what the ring holds now, synchronously (before a resync, at shutdown). */
  drain(): number {
    return this.#ring.drain();
  }

  /** Totals over all CPUs of events written and events dropped because the ring was full. */
  counters(): ProcCounters {
    const sum = (i: number): bigint => (this.#counters.lookup(i) ?? []).reduce((a, b) => a + b, 0n);
    return { events: sum(Counter.PROC_EVENTS), drops: sum(Counter.PROC_DROPS) };
  }

  /** Events lost ring-wide so far: the value the next event will carry in `lost`. One lookup. */
  lost(): bigint {
    return this.#lost.lookup(0) ?? 0n;
  }

  /** The BPF side's failed helpers and reserves, by file and line. */
  errors(): BpfErrorCount[] {
    return this.#errors.entries().map(([k, v]) => ({ ...k, count: v.reduce((a, b) => a + b, 0n) }));
  }

  /** Each tracepoint's link as the kernel has it now. tp_btf links have no detach operation (6.1
   * and 6.18: BPF_LINK_DETACH gives EOPNOTSUPP) and we hold their only fds, so they stay attached
   * until close(); this asks anyway, so a kernel that can detach them is caught too. */
  check(): LinkCheck[] {
    return this.#links.check();
  }

  /** Attaches again each tracepoint found detached; the ring and its reader stay. Returns what it did. */
  repair(): string[] {
    return this.#links.repair();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#links.destroy();
    this.#ring.close();
    this.#object.close();
  }
}
