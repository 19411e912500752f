import { Verdict, type SockMaps } from '../kernel/index.js';
import type { ObservedFlow } from './observed-flow.js';

const VERDICTS = new Map<number, ObservedFlow['verdict']>([[Verdict.ALLOW, 'allow'], [Verdict.DENY, 'deny'], [Verdict.AUDIT, 'audit']]);

/** Every flow the kernel has aggregated so far (sock.bpf.c's `flows`, an LRU: the oldest go first when full). */
export function readFlows(map: Pick<SockMaps['flows'], 'entries'>): ObservedFlow[] {
  const out: ObservedFlow[] = [];
  for (const [k, v] of map.entries()) {
    const family = k.family === 4 || k.family === 6 ? k.family : null;
    out.push({
      src: k.src, dst: k.dst, port: k.port, count: v.count, verdict: VERDICTS.get(v.verdict) ?? 'allow',
      external: k.dst === 0 && family !== null ? { family, address: Buffer.from(k.addr).subarray(0, family === 4 ? 4 : 16) } : null,
    });
  }
  return out;
}
