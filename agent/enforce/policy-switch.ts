import { Mode, Unidentified, cidrKey, type SockMaps } from '../kernel/index.js';
import type { CompiledPolicy } from './compile-policy.js';

type SwitchMaps = Pick<SockMaps, 'policy' | 'cidrs' | 'config'>;

/**
 * Puts a compiled policy into the kernel whole, or not at all: the new rules are written under
 * the generation not in force, then one write of the config switches the connect hook to them,
 * then the old generation's rules are removed. The hook reads the config once per connect, so
 * every connect is decided by the old policy or by the new one, never by a mix or by neither.
 */
export class PolicySwitch {
  readonly #maps: SwitchMaps;
  readonly #agentTgid: number;

  /** `agentTgid`: the process whose connects the hooks leave alone (the agent passes its own pid,
   * for its tunnels' legs); 0, the default: none. */
  constructor(maps: SwitchMaps, agentTgid = 0) {
    this.#maps = maps;
    this.#agentTgid = agentTgid;
  }

  /** The generation in force and whether any policy is (an adopted map tells what ran before). */
  current(): { generation: number; enabled: boolean } {
    const c = this.#maps.config.lookup(0);
    return { generation: c?.generation ?? 0, enabled: (c?.enabled ?? 0) === 1 };
  }

  apply(policy: CompiledPolicy): { generation: number; rules: number } {
    const old = this.current().generation;
    const next = old === 0 ? 1 : 0;
    this.#clear(next); // leftovers of an interrupted earlier switch
    this.#maps.policy.updateMany(policy.tuples.map((t) => [{ ...t, generation: next }, 1] as const));
    for (const t of policy.cidrs) { // an LPM trie takes no batch update
      this.#maps.cidrs.update(cidrKey({ src: t.src, port: t.port, generation: next, family: t.cidr.family, address: t.cidr.address, prefixLength: t.cidr.prefixLength }), 1);
    }
    this.#maps.config.update(0, {
      mode: policy.mode === 'audit' ? Mode.AUDIT : Mode.ENFORCE,
      unidentified: policy.unidentified === 'deny' ? Unidentified.DENY : Unidentified.ALLOW,
      generation: next,
      enabled: 1,
      agentTgid: this.#agentTgid,
    });
    this.#clear(old);
    return { generation: next, rules: policy.tuples.length + policy.cidrs.length };
  }

  /** No policy: the hook allows everything and reports nothing. */
  disable(): void {
    const { generation } = this.current();
    this.#maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation, enabled: 0, agentTgid: this.#agentTgid });
  }

  #clear(generation: number): void {
    const stale = [...this.#maps.policy.keys()].filter((k) => k.generation === generation);
    this.#maps.policy.deleteMany(stale);
    for (const k of [...this.#maps.cidrs.keys()]) if (k.generation === generation) this.#maps.cidrs.delete(k);
  }
}
