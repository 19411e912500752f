import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTracker, type HostTracker } from '../../agent/attest/index.js';
import { KernelError, Mode, SockPrograms, cidrKey, Unidentified, ensureBpffs, uninstall } from '../../agent/kernel/index.js';
import { CONNECT_PY } from '../support/sock-workload.js';
import { execRecord } from '../support/exec-record.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited } from '../support/wait.js';

// tick_ns, the precision of an identity seeded from /proc, set at load through ticksPerSecond:
// at 1 tick a second, a coarse start time anywhere in the process's second matches, even 400 ms
// off (never a match at the default 10 ms tick); one second off does not.
const PIN_DIR = `/sys/fs/bpf/tether-test-ticks-${process.pid}`;
const A = 701;
const SECOND = 1_000_000_000n;

describe('ticksPerSecond sets the kernel\'s tick', () => {
  let cg: TestCgroup;
  let host: HostTracker;
  let sock: SockPrograms;

  /** Connects to 127.0.0.1 port 9 as A with a coarse start time. */
  async function connectCoarse(startNs: (real: bigint) => bigint): Promise<string> {
    const child = cg.spawn(['/usr/bin/python3', '-c', `import sys\nsys.stdin.readline()\n${CONNECT_PY}print(attempt("127.0.0.1", 9))`], 'pipe');
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    await new Promise((r) => child.once('spawn', r));
    const rec = await execRecord(host, child.pid as number);
    sock.maps.identities.update(child.pid as number, { id: A, coarse: 1, startNs: startNs(rec.key.startNs) });
    child.stdin?.end('go\n');
    await exited(child);
    return out.trim();
  }

  beforeAll(() => {
    host = hostTracker();
    host.tracker.start();
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-kt-ticks');
    sock = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path, ticksPerSecond: 1 });
    // Only A passes, by a CIDR rule (no listener identity on port 9): allowed is ECONNREFUSED or ok.
    sock.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 0, enabled: 1, agentTgid: 0 });
  });
  afterAll(async () => {
    host?.tracker.stop();
    sock?.release();
    try { uninstall(PIN_DIR); } finally { await cg?.destroy(); }
  });

  it('matches a coarse start time within the same second, 400+ ms away, and not a second earlier', async () => {
    const sameSecondFarOff = (real: bigint): bigint => {
      const second = (real / SECOND) * SECOND;
      return real % SECOND < SECOND / 2n ? second + (SECOND * 9n) / 10n : second;
    };
    sock.maps.cidrs.update(cidrKey({ src: A, port: 9, generation: 0, family: 4, address: Buffer.from([127, 0, 0, 1]), prefixLength: 32 }), 1);
    expect(await connectCoarse(sameSecondFarOff)).toMatch(/^(ok|ECONNREFUSED)$/);
    expect(await connectCoarse((real) => sameSecondFarOff(real) - SECOND)).toBe('EPERM');
  });

  it('refuses a tick that is not a whole number of ns', () => {
    expect(() => SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path, ticksPerSecond: 3 })).toThrow(KernelError);
    expect(() => SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path, ticksPerSecond: 0 })).toThrow(/positive integer/);
  });
});
