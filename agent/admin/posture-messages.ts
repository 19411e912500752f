/**
 * Posture verdicts to proto messages and back (`tether posture`, and the posture column of
 * `tether entry match`). On the wire a verdict is "pass" or "fail"; anything else from an agent
 * is a bad response, never read as a pass.
 */
import type { PostureCheckView, PostureReport } from './backend.js';
import type { PostureCheck, PostureCheck__Output } from './gen/tether/admin/v1/PostureCheck.js';
import type { PostureReport as PostureReportMessage, PostureReport__Output } from './gen/tether/admin/v1/PostureReport.js';
import { badResponse } from './messages.js';

export function postureCheckMessage(c: PostureCheckView): PostureCheck {
  return { check: c.check, verdict: c.ok ? 'pass' : 'fail', evidence: c.evidence };
}

export function readPostureCheck(m: PostureCheck__Output): PostureCheckView {
  if (m.verdict !== 'pass' && m.verdict !== 'fail') throw badResponse(`PostureCheck.verdict ${JSON.stringify(m.verdict)} of ${m.check} is neither pass nor fail`);
  return { check: m.check, ok: m.verdict === 'pass', evidence: m.evidence };
}

export function postureReportMessage(r: PostureReport): PostureReportMessage {
  return {
    pid: r.pid,
    entries: r.entries.map((e) => ({ id: e.id, spiffe_id: e.spiffeId, checks: e.checks.map(postureCheckMessage) })),
  };
}

export function readPostureReport(m: PostureReport__Output): PostureReport {
  return { pid: m.pid, entries: m.entries.map((e) => ({ id: e.id, spiffeId: e.spiffe_id, checks: e.checks.map(readPostureCheck) })) };
}
