import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgroupPaths } from '../../../agent/attest/cgroup-paths.js';
import { AttestError } from '../../../agent/attest/errors.js';
import { ExeDigests } from '../../../agent/attest/exe-digest.js';
import { ProcReader, type ProcSnapshot } from '../../../agent/attest/proc-reader.js';
import { ProcessDescriber } from '../../../agent/attest/process-info.js';
import { ProcessTable, type ProcessRecord } from '../../../agent/attest/process-table.js';
import { ProcessTracker } from '../../../agent/attest/process-tracker.js';
import { SelectorSource } from '../../../agent/attest/selectors.js';
import { StartClock, detectTicksPerSecond } from '../../../agent/attest/start-clock.js';
import { parseIdFile, UserNames } from '../../../agent/attest/user-names.js';
import { findCgroupV2Mount, ProcKind } from '../../../agent/kernel/index.js';
import { FakeProcEvents, procEvent } from '../../fakes/fake-proc-events.js';
import { snapshot } from '../../fakes/fake-proc-reader.js';

const CONTAINER = '9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961';
const POD = '2c48913c-b29f-11e7-9350-020968147796';
const K8S_CGROUP = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD.replaceAll('-', '_')}.slice/cri-containerd-${CONTAINER}.scope`;
const TICK = 10_000_000n; // USER_HZ 100

let dir: string;
let users: UserNames;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tether-selectors-'));
  writeFileSync(join(dir, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n');
  writeFileSync(join(dir, 'group'), 'root:x:0:\nstaff:x:1000:alice\n');
  users = new UserNames({ passwdPath: join(dir, 'passwd'), groupPath: join(dir, 'group') });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A table of made-up processes, all seeded with resolved exe and cgroup paths, so describe()
 * never reads the real /proc: init (1) → sshd (100) → bash (200) → app (300, in a pod).
 */
function tree(extra: ReadonlyArray<Partial<ProcSnapshot> & Pick<ProcSnapshot, 'tgid'>> = []): { table: ProcessTable; source: SelectorSource } {
  const table = new ProcessTable(new StartClock(100));
  const procs = [
    snapshot({ tgid: 1, ppid: 0, startTicks: 1n, exe: '/usr/lib/systemd/systemd', uid: 0, gid: 0, cgroupPath: '/init.scope' }),
    snapshot({ tgid: 100, ppid: 1, startTicks: 10n, exe: '/usr/sbin/sshd', uid: 0, gid: 0, cgroupPath: '/system.slice/ssh.service' }),
    snapshot({ tgid: 200, ppid: 100, startTicks: 20n, exe: '/usr/bin/bash', cgroupPath: '/user.slice' }),
    snapshot({ tgid: 300, ppid: 200, startTicks: 30n, exe: '/usr/bin/python3.11', cgroupPath: K8S_CGROUP }),
    ...extra.map((p) => snapshot(p)),
  ];
  const starts = new Map(procs.map((p) => [p.tgid, p.startTicks * TICK]));
  for (const p of procs) table.seed(p, starts.get(p.ppid) ?? null);
  const describer = new ProcessDescriber({
    table, cgroups: new CgroupPaths({ mountPoint: join(dir, 'no-cgroup-mount') }), digests: new ExeDigests(), bootTimeMs: 0, clock: new StartClock(100),
  });
  return { table, source: new SelectorSource({ describer, table, users }) };
}

function record(table: ProcessTable, tgid: number): ProcessRecord {
  const r = table.current(tgid);
  if (r === undefined) throw new Error(`no process ${tgid} in the test table`);
  return r;
}

describe('SelectorSource on a table of made-up processes', () => {
  it('gives the unix, cgroup, container, pod and lineage selectors of a containerised process', async () => {
    const { table, source } = tree();
    expect(await source.selectorsOf(record(table, 300), { sha256: false })).toEqual([
      `cgroup:path:${K8S_CGROUP}`,
      `container:id:${CONTAINER}`,
      `k8s:pod-uid:${POD}`,
      'lineage:path:/usr/bin/bash',
      'lineage:path:/usr/sbin/sshd',
      'unix:gid:1000',
      'unix:group:staff',
      'unix:path:/usr/bin/python3.11',
      'unix:uid:1000',
      'unix:user:alice',
    ]);
  });

  it('gives no lineage above pid 1 nor of pid 1 itself, and none to pid 1', async () => {
    const { table, source } = tree();
    const sshd = await source.selectorsOf(record(table, 100), { sha256: false });
    expect(sshd.filter((s) => s.startsWith('lineage:'))).toEqual([]);
    expect(sshd).toContain('unix:user:root');
    expect((await source.selectorsOf(record(table, 1), { sha256: false })).filter((s) => s.startsWith('lineage:'))).toEqual([]);
  });

  it('gives no name selector for an id without a name', async () => {
    const { table, source } = tree([{ tgid: 400, ppid: 200, startTicks: 40n, uid: 4242, gid: 4343 }]);
    const got = await source.selectorsOf(record(table, 400), { sha256: false });
    expect(got).toContain('unix:uid:4242');
    expect(got).toContain('unix:gid:4343');
    expect(got.filter((s) => s.startsWith('unix:user:') || s.startsWith('unix:group:'))).toEqual([]);
  });

  it('stops the lineage at a parent the table no longer has, or whose pid now names a younger process', async () => {
    // 500's parent 450 has exited; 600 knows only its parent's pid (from /proc), and 200 now
    // names a bash that started after 600 did: not its parent, whatever the pid says
    const { table, source } = tree([{ tgid: 500, ppid: 450, startTicks: 50n, exe: '/usr/bin/orphan' }]);
    table.seed(snapshot({ tgid: 600, ppid: 200, startTicks: 15n, exe: '/usr/bin/old' }), null);
    expect((await source.selectorsOf(record(table, 500), { sha256: false })).filter((s) => s.startsWith('lineage:'))).toEqual([]);
    expect((await source.selectorsOf(record(table, 600), { sha256: false })).filter((s) => s.startsWith('lineage:'))).toEqual([]);
    // the same, with the pid's holder older than the child: taken as the parent
    table.seed(snapshot({ tgid: 700, ppid: 200, startTicks: 70n, exe: '/usr/bin/young' }), null);
    expect(await source.selectorsOf(record(table, 700), { sha256: false })).toContain('lineage:path:/usr/bin/bash');
  });

  it('walks at most 64 ancestors', async () => {
    const chain = Array.from({ length: 100 }, (_, i) => ({
      tgid: 1000 + i, ppid: i === 0 ? 300 : 999 + i, startTicks: BigInt(100 + i), exe: `/opt/chain/p${i}`,
    }));
    const { table, source } = tree(chain);
    const lineage = (await source.selectorsOf(record(table, 1099), { sha256: false })).filter((s) => s.startsWith('lineage:'));
    expect(lineage).toHaveLength(64);
    expect(lineage).toContain('lineage:path:/opt/chain/p98'); // the parent
    expect(lineage).not.toContain('lineage:path:/opt/chain/p34'); // the 65th ancestor
  });

  it('gives a kernel thread no path and no digest, even when asked for one', async () => {
    const { table, source } = tree([{ tgid: 2, ppid: 0, startTicks: 1n, exe: null, exeDev: null, exeIno: null, uid: 0, gid: 0, cgroupPath: '/' }]);
    const got = await source.selectorsOf(record(table, 2), { sha256: true });
    expect(got.filter((s) => s.startsWith('unix:path:') || s.startsWith('unix:sha256:'))).toEqual([]);
    expect(got).toContain('cgroup:path:/');
  });

  it('never takes the exec filename (relative, or a symlink) for the path', async () => {
    const table = new ProcessTable(new StartClock(100));
    // An event record: exe unresolved; pid 999999 has no /proc entry, so nothing resolves it.
    table.apply(procEvent({ kind: ProcKind.EXEC, tgid: 999_999, startNs: 5n, ppid: 1, parentStartNs: 1n, filename: '/usr/bin/python3' }));
    const describer = new ProcessDescriber({ table, cgroups: new CgroupPaths({ mountPoint: dir }), digests: new ExeDigests(), bootTimeMs: 0, clock: new StartClock(100) });
    expect(describer.describe(record(table, 999_999)).exe).toBe('/usr/bin/python3'); // what `ps` shows
    const got = await new SelectorSource({ describer, table, users }).selectorsOf(record(table, 999_999), { sha256: false });
    expect(got.filter((s) => s.startsWith('unix:path:'))).toEqual([]);
  });

  it('gives no path for an executable deleted since it started (an upgrade, a memfd)', async () => {
    const { table, source } = tree([
      { tgid: 800, ppid: 300, startTicks: 80n, exe: '/memfd:payload (deleted)' },
      { tgid: 801, ppid: 800, startTicks: 81n, exe: '/usr/bin/python3.11 (deleted)' },
    ]);
    const got = await source.selectorsOf(record(table, 801), { sha256: false });
    expect(got.filter((s) => s.includes('(deleted)'))).toEqual([]);
    expect(got.filter((s) => s.startsWith('unix:path:'))).toEqual([]);
    expect(got).toContain('lineage:path:/usr/bin/python3.11'); // 300, above the deleted ones
  });

  it('refuses a record that is no longer in the table', async () => {
    const { table, source } = tree();
    const gone = { ...record(table, 300), key: { tgid: 300, startNs: 999n * TICK } };
    await expect(source.selectorsOf(gone, { sha256: false })).rejects.toSatisfy(
      (e: unknown) => e instanceof AttestError && e.code === 'PROCESS_GONE');
  });
});

describe('UserNames', () => {
  it('reads the first name for an id, skipping comments and NIS markers', () => {
    const names = parseIdFile('# comment\n+nis::0:\nroot:x:0:0::/:/bin/sh\ntoor:x:0:0::/:/bin/sh\nbad:x:abc:0\n\nbob:x:1001:1001\n');
    expect([...names]).toEqual([[0, 'root'], [1001, 'bob']]);
  });

  it('reads the file again when it changes, and gives nothing without it', () => {
    const file = join(dir, 'passwd-changing');
    writeFileSync(file, 'alice:x:1000:1000\n');
    const u = new UserNames({ passwdPath: file, groupPath: join(dir, 'no-group') });
    expect(u.user(1000)).toBe('alice');
    expect(u.group(1000)).toBeUndefined();
    writeFileSync(file, 'alicia:x:1000:1000\n'); // same size: only the mtime tells
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(u.user(1000)).toBe('alicia');
    rmSync(file);
    expect(u.user(1000)).toBeUndefined();
  });
});

describe('SelectorSource on this very test process (real /proc)', () => {
  it('gives its euid, resolved exe, digest, cgroup and its parent\'s exe as lineage', async () => {
    const events = new FakeProcEvents();
    const ticks = detectTicksPerSecond();
    const tracker = new ProcessTracker({ reader: new ProcReader(), clock: new StartClock(ticks), bootNs: () => 0n, openEvents: events.open });
    tracker.start();
    try {
      const describer = new ProcessDescriber({
        table: tracker.table, cgroups: new CgroupPaths({ mountPoint: findCgroupV2Mount() }), digests: new ExeDigests(), bootTimeMs: 0, clock: new StartClock(100),
      });
      const me = record(tracker.table, process.pid);
      const got = await new SelectorSource({ describer, table: tracker.table }).selectorsOf(me, { sha256: true });
      const exe = realpathSync(process.execPath);
      const cgroup = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))?.slice(3);
      expect(got).toContain(`unix:uid:${process.geteuid?.()}`);
      expect(got).toContain(`unix:gid:${process.getegid?.()}`);
      expect(got).toContain(`unix:path:${exe}`);
      expect(got).toContain(`unix:sha256:${createHash('sha256').update(readFileSync(exe)).digest('hex')}`);
      expect(got).toContain(`cgroup:path:${cgroup}`);
      expect(got).toContain(`lineage:path:${readlinkSync(`/proc/${process.ppid}/exe`)}`);
      expect(got).toEqual([...new Set(got)].sort());
    } finally {
      tracker.stop();
    }
  });
});
