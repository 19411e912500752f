import { AdminError, type AdminBackend, type DeviationView, type ProfileView, type QuarantineView } from '../admin/index.js';
import type { ProcessTracker } from '../attest/index.js';
import { bootTimeNs } from '../kernel/index.js';
import { ProfileError, describeWhat, formatProfile, type Deviation, type Profile, type QuarantinedProcess } from '../profile/index.js';
import { SpiffeError, SpiffeId } from '../spiffe/index.js';
import type { Profiles } from './profiles.js';

export type ProfileMethod = 'profile' | 'profileDiff' | 'setProfileMode' | 'acceptDeviation' | 'quarantined' | 'releaseQuarantine';

export interface ProfileAdminDeps {
  readonly profiles: Profiles;
  readonly idOf: (n: number) => SpiffeId | undefined;
  readonly tracker: Pick<ProcessTracker, 'table'>;
  readonly nowMs?: () => number;
}

/** What the admin API answers about behaviour profiles and the quarantine. */
export function profileAdmin(d: ProfileAdminDeps): Pick<AdminBackend, ProfileMethod> {
  const { profiler, quarantine } = d.profiles;
  const nowMs = d.nowMs ?? Date.now;
  const quarantineView = (q: QuarantinedProcess): QuarantineView => ({
    pid: q.key.tgid, startNs: q.key.startNs, spiffeId: d.idOf(q.identity)?.toString() ?? null, reason: q.reason,
    since: new Date(nowMs() - Number((bootTimeNs() - q.sinceNs) / 1_000_000n)).toISOString(),
    comm: d.tracker.table.get(q.key)?.comm ?? '',
  });
  return {
    profile: (id) => answer(() => view(profiler.profile(parseId(id)))),
    profileDiff: (id) => answer(() => {
      const spiffeId = parseId(id);
      profiler.profile(spiffeId); // NOT_FOUND for an identity without a profile
      return profiler.deviations(spiffeId).map(deviationView);
    }),
    setProfileMode: (id, mode) => answer(() => view(profiler.setMode(parseId(id), mode))),
    acceptDeviation: (id, seq) => answer(() => view(profiler.accept(parseId(id), seq))),
    quarantined: () => quarantine.list().map(quarantineView),
    releaseQuarantine: (pid) => answer(() => quarantineView(quarantine.release(pid))),
  };
}

/** Without --policy there are no hooks, so no profiles: refused, not empty. */
export function noProfiles(): Pick<AdminBackend, ProfileMethod> {
  const refuse = (): never => {
    throw new AdminError('NOT_ENFORCING', 'the agent runs without --policy: behaviour profiles live in the enforcement hooks (start it with --policy FILE --cgroup DIR)');
  };
  return { profile: refuse, profileDiff: refuse, setProfileMode: refuse, acceptDeviation: refuse, quarantined: refuse, releaseQuarantine: refuse };
}

function view(p: Profile): ProfileView {
  return { spiffeId: p.id.toString(), mode: p.mode, yaml: formatProfile(p) };
}

function deviationView(d: Deviation): DeviationView {
  return {
    seq: d.seq, time: d.at.toISOString(), mode: d.mode, kind: d.what.kind, what: describeWhat(d.what),
    pid: d.process?.tgid ?? null, lineage: d.lineage.map((s) => `${s.tgid}/${s.comm}`).join(' < '), quarantined: d.quarantined?.tgid ?? null,
  };
}

function parseId(text: string): SpiffeId {
  try {
    return SpiffeId.parse(text);
  } catch (err) {
    if (err instanceof SpiffeError) throw new AdminError('BAD_REQUEST', `spiffe_id: ${err.message}`, { cause: err });
    throw err;
  }
}

/** profile/'s errors as the admin API's codes. */
function answer<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof ProfileError)) throw err;
    const code = err.code === 'UNKNOWN_PROFILE' || err.code === 'NOT_QUARANTINED' ? 'NOT_FOUND' : err.code === 'BAD_PROFILE' ? 'BAD_REQUEST' : 'UNAVAILABLE';
    throw new AdminError(code, err.message, { cause: err });
  }
}
