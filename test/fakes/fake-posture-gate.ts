import type { PostureRequirements, PostureVerdict, ProcessRecord } from '../../agent/attest/index.js';
import type { PostureGate } from '../../agent/workload/index.js';

/**
 * workload/'s PostureGate with verdicts chosen by the test: every check asked for passes unless
 * `failing` names it (with its evidence). Records what it was asked and the exe watches it holds.
 */
export class FakePostureGate implements PostureGate {
  readonly failing = new Map<string, string>();
  readonly asked: Array<{ pid: number; checks: string[] }> = [];
  readonly exeWatchers = new Set<() => void>();

  async check(record: ProcessRecord, posture: PostureRequirements): Promise<PostureVerdict[]> {
    const checks = (Object.keys(posture) as Array<keyof PostureRequirements>).filter((c) => posture[c] !== undefined && posture[c] !== false);
    this.asked.push({ pid: record.key.tgid, checks });
    return checks.map((check) => {
      const evidence = this.failing.get(check);
      return evidence === undefined ? { check, ok: true, evidence: 'fine' } : { check, ok: false, evidence };
    });
  }

  watchExe(_record: ProcessRecord, onChange: () => void): () => void {
    this.exeWatchers.add(onChange);
    return () => this.exeWatchers.delete(onChange);
  }

  /** The executable's file changed: every watcher is told. */
  replaceExe(): void {
    for (const w of [...this.exeWatchers]) w();
  }
}
