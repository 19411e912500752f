import { execFileSync } from 'node:child_process';
import type { ProcessKey } from './process-table.js';

/**
 * Start times at the precision both sources share. /proc/<pid>/stat reports clock ticks
 * (nsec_to_clock_t truncates), events report nanoseconds: a /proc key names the same process
 * as an event's when the tgid and the tick agree; two events' keys must agree to the ns.
 */
export class StartClock {
  readonly tickNs: bigint;

  constructor(ticksPerSecond: number) {
    this.tickNs = 1_000_000_000n / BigInt(ticksPerSecond);
  }

  ticks(startNs: bigint): bigint {
    return startNs / this.tickNs;
  }

  fromTicks(ticks: bigint): bigint {
    return ticks * this.tickNs;
  }

  /** Exact when both keys are; at tick precision when either came from /proc. */
  same(a: ProcessKey, b: ProcessKey): boolean {
    if (a.tgid !== b.tgid) return false;
    return a.coarse || b.coarse ? this.ticks(a.startNs) === this.ticks(b.startNs) : a.startNs === b.startNs;
  }
}

/** USER_HZ, the unit of /proc/<pid>/stat's start time: 100 on every Linux we know, but asked. */
export function detectTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}
