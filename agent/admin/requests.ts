/**
 * What the admin server accepts, checked before the backend sees it. Each refusal is
 * BAD_REQUEST naming the field and its rule, so `tether` can print it as the usage error it is.
 */
import { isIP } from 'node:net';
import { SpiffeError, SpiffeId } from '../spiffe/index.js';
import type { PolicyCheckRequest } from './backend.js';
import { AdminError } from './errors.js';
import type { PolicyCheckRequest__Output } from './gen/tether/admin/v1/PolicyCheckRequest.js';

/** The largest policy file ApplyPolicy takes, in UTF-8 bytes. */
export const MAX_POLICY_BYTES = 1024 * 1024;
/** Events sends this many recent events when the request's limit is 0. */
export const DEFAULT_EVENTS_LIMIT = 100;
/** More than the agent keeps; a larger limit is a mistake, not a wish for everything. */
export const MAX_EVENTS_LIMIT = 10_000;

export function checkRequest(m: PolicyCheckRequest__Output): PolicyCheckRequest {
  if (m.from === '') throw bad('from must be given (a SPIFFE ID)');
  spiffeId(m.from, 'from');
  if (m.to === '') throw bad('to must be given (a SPIFFE ID or an IP address)');
  if (m.to.startsWith('spiffe://')) spiffeId(m.to, 'to');
  else if (isIP(m.to) === 0) throw bad(`to must be a SPIFFE ID or an IP address: got ${JSON.stringify(m.to)}`);
  if (!Number.isInteger(m.port) || m.port < 1 || m.port > 65535) throw bad(`port must be 1-65535: got ${m.port}`);
  return { from: m.from, to: m.to, port: m.port };
}

export function policyText(yaml: string): string {
  if (yaml.trim() === '') throw bad('yaml must be given (the policy file\'s text)');
  const bytes = Buffer.byteLength(yaml, 'utf8');
  if (bytes > MAX_POLICY_BYTES) throw bad(`yaml is ${bytes} bytes: a policy may be at most ${MAX_POLICY_BYTES}`);
  return yaml;
}

export function matchPid(pid: number): number {
  if (!Number.isInteger(pid) || pid < 1) throw bad(`pid must be a process id (1 or more): got ${pid}`);
  return pid;
}

export function eventsLimit(limit: number): number {
  if (limit === 0) return DEFAULT_EVENTS_LIMIT;
  if (limit > MAX_EVENTS_LIMIT) throw bad(`limit must be at most ${MAX_EVENTS_LIMIT}: got ${limit}`);
  return limit;
}

function spiffeId(value: string, field: string): void {
  try {
    SpiffeId.parse(value);
  } catch (err) {
    if (!(err instanceof SpiffeError)) throw err;
    throw bad(`${field} must be a SPIFFE ID: ${err.message}`, err);
  }
}

function bad(message: string, cause?: unknown): AdminError {
  return new AdminError('BAD_REQUEST', message, cause === undefined ? {} : { cause });
}
