import { describe, expect, it } from 'vitest';
import { postureReportMessage, readPostureCheck, readPostureReport } from '../../../agent/admin/posture-messages.js';

describe('posture messages', () => {
  it('carry a verdict as "pass" or "fail" and read it back', () => {
    const report = { pid: 7, entries: [{ id: 'ab', spiffeId: 'spiffe://example.org/w', checks: [
      { check: 'seccomp', ok: true, evidence: 'Seccomp is 2 (filter), required filter' }, { check: 'noNewPrivs', ok: false, evidence: 'NoNewPrivs is 0' },
    ] }] };
    const message = postureReportMessage(report);
    expect(message.entries?.[0]?.checks?.map((c) => c.verdict)).toEqual(['pass', 'fail']);
    expect(readPostureReport({ pid: 7, entries: [{ id: 'ab', spiffe_id: 'spiffe://example.org/w', checks: message.entries?.[0]?.checks as never }] })).toEqual(report);
  });

  it('never read an unknown verdict from an agent as a pass', () => {
    expect(() => readPostureCheck({ check: 'seccomp', verdict: '', evidence: '' })).toThrow(/PostureCheck.verdict "" of seccomp is neither pass nor fail/);
  });
});
