import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  LAYOUT, decodeExeKey, decodePolicyKey, decodeProcIdentity, decodeSockConfig, encodeExeKey, encodePolicyKey, encodeProcIdentity,
  encodeSockConfig, type ExeKey, type PolicyKey, type ProcIdentity, type SockConfig,
} from './abi.gen.js';
import { BpfLink } from './bpf-link.js';
import type { BpfMap } from './bpf-map.js';
import { BpfObject } from './bpf-object.js';
import { perCpu, structCodec, u32, u64, type Codec } from './codec.js';
import { native } from './native.js';
import { bpfObjectPath } from './paths.js';

/** The hooks, each with a link pinned as link_<name>: the cgroup hooks on the agent's cgroup, the
 * identity tracepoints host-wide (they only give identities; the hooks act only in the cgroup). */
const PROGRAMS = ['handle_bind4', 'handle_connect4', 'handle_identity_exec', 'handle_identity_fork', 'handle_identity_exit'] as const;

const byte: Codec<number> = { size: 1, encode: (v) => Buffer.from([v]), decode: (b, o = 0) => b[o] ?? 0 };

/** The connect hook's maps, typed. They are pinned by name under the pin dir, so a restarted
 * agent (or one killed with -9) finds the state the kernel has been enforcing. */
export interface SockMaps {
  readonly identities: BpfMap<number, ProcIdentity>;
  readonly executables: BpfMap<ExeKey, number>;
  readonly listeners: BpfMap<number, number>;
  readonly policy: BpfMap<PolicyKey, number>;
  readonly config: BpfMap<number, SockConfig>;
  readonly verdicts: BpfMap<number, bigint[]>;
}

/**
 * bpf/sock.bpf.c on one cgroup: loaded with its maps pinned under `pinDir`, its bind4 and connect4
 * programs attached by links pinned there too. A link already pinned (an earlier run) is adopted, not
 * attached again: enforcement never lapses across restarts. release() closes our fds and leaves
 * the pins; `tether uninstall` (kernel/uninstall.ts) detaches and removes them.
 */
export class SockPrograms {
  readonly maps: SockMaps;
  /** 'attached' the first time, 'adopted' when an earlier run's link was still pinned. */
  readonly link: 'attached' | 'adopted';
  readonly #object: BpfObject;
  readonly #links: readonly BpfLink[];

  private constructor(object: BpfObject, links: readonly BpfLink[], how: 'attached' | 'adopted') {
    this.#object = object;
    this.#links = links;
    this.link = how;
    const cpus = native().possibleCpus();
    this.maps = {
      identities: object.map('proc_identity', u32, structCodec(LAYOUT.tether_proc_identity.size, encodeProcIdentity, decodeProcIdentity)),
      executables: object.map('exe_identity', structCodec(LAYOUT.tether_exe_key.size, encodeExeKey, decodeExeKey), u32),
      listeners: object.map('listeners', u32, u32),
      policy: object.map('policy', structCodec(LAYOUT.tether_policy_key.size, encodePolicyKey, decodePolicyKey), byte),
      config: object.map('sock_config', u32, structCodec(LAYOUT.tether_sock_config.size, encodeSockConfig, decodeSockConfig)),
      verdicts: object.map('verdicts', u32, perCpu(u64, cpus)),
    };
  }

  static open(options: { pinDir: string; cgroup: string; objectPath?: string }): SockPrograms {
    const object = BpfObject.load(options.objectPath ?? bpfObjectPath('sock'), { pinRoot: options.pinDir });
    const links: BpfLink[] = [];
    try {
      let adopted = true;
      for (const program of PROGRAMS) {
        const pin = join(options.pinDir, `link_${program.slice('handle_'.length)}`);
        if (existsSync(pin)) {
          links.push(BpfLink.openPinned(pin));
          continue;
        }
        adopted = false;
        const link = program.startsWith('handle_identity_') ? object.attach(program) : object.attachCgroup(program, options.cgroup);
        links.push(link);
        link.pin(pin);
      }
      return new SockPrograms(object, links, adopted ? 'adopted' : 'attached');
    } catch (err) {
      for (const l of links) l.release();
      object.close();
      throw err;
    }
  }

  /** Close our fds; the pinned link and maps go on enforcing without us. */
  release(): void {
    for (const l of this.#links) l.release();
    this.#object.close();
  }
}
