import type { PostureChecker, ProcessRecord } from '../attest/index.js';
import { postureChecks, type Entry, type PostureCheckName } from '../registry/index.js';
import { WorkloadError } from './errors.js';

/** What the identity backend needs of attest/'s PostureChecker. */
export type PostureGate = Pick<PostureChecker, 'check' | 'watchExe'>;

/** Told each posture check's result as SVIDs are decided (daemon/ counts them by check and result). */
export interface PostureObserver {
  checked(check: PostureCheckName, ok: boolean): void;
}

/**
 * The matched entries whose posture holds for the process, in their order. An entry with a
 * posture and no gate to judge it is refused (never issued unchecked). When posture refuses
 * every matched entry, throws WorkloadError POSTURE_FAILED (PermissionDenied) naming the first
 * failed check, its entry and what was seen:
 * "posture check noNewPrivs failed for spiffe://example.org/web: NoNewPrivs is 0".
 */
export async function passPosture(
  matched: readonly Entry[], record: ProcessRecord, gate: PostureGate | undefined, observer: PostureObserver | undefined,
): Promise<Entry[]> {
  const passed: Entry[] = [];
  let refusal: string | undefined;
  for (const entry of matched) {
    const failure = await failedCheck(entry, record, gate, observer);
    if (failure === undefined) passed.push(entry);
    else refusal ??= `posture check ${failure.check} failed for ${entry.spiffeId.toString()}: ${failure.evidence}`;
  }
  if (passed.length === 0 && refusal !== undefined) throw new WorkloadError('POSTURE_FAILED', refusal);
  return passed;
}

async function failedCheck(
  entry: Entry, record: ProcessRecord, gate: PostureGate | undefined, observer: PostureObserver | undefined,
): Promise<{ check: string; evidence: string } | undefined> {
  const checks = postureChecks(entry.posture);
  if (checks.length === 0 || entry.posture === undefined) return undefined;
  if (gate === undefined) return { check: checks[0] as string, evidence: 'no posture checker in this agent' };
  const verdicts = await gate.check(record, entry.posture);
  for (const v of verdicts) observer?.checked(v.check, v.ok);
  return verdicts.find((v) => !v.ok);
}

/** Whether any entry asks that its holders' executables stay put (their files are watched). */
export function watchesExe(entries: readonly Entry[]): boolean {
  return entries.some((e) => e.posture?.exeImmutable === true);
}
