import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { AttestError } from '../../../agent/attest/index.js';
import { CaError } from '../../../agent/ca/index.js';
import { KernelError } from '../../../agent/kernel/index.js';
import { SpiffeError } from '../../../agent/spiffe/index.js';
import { WorkloadError, toStatus } from '../../../agent/workload/index.js';
import { RecordingLog } from '../../support/workload-server.js';

describe('toStatus (SPIFFE.md a.3, a.4)', () => {
  it.each([
    ['missing header', new WorkloadError('MISSING_SECURITY_HEADER', 'x'), status.INVALID_ARGUMENT, 'security header missing from request'],
    ['caller gone', new WorkloadError('CALLER_GONE', 'pid 1 exited'), status.UNAUTHENTICATED, 'could not verify existence of the original caller'],
    ['attestation failed', new WorkloadError('ATTESTATION_FAILED', 'x'), status.UNAVAILABLE, 'workload attestation failed'],
    ['no identity', new WorkloadError('NO_IDENTITY', 'pid 1 has none'), status.PERMISSION_DENIED, 'no identity issued'],
    ['bad request', new WorkloadError('BAD_REQUEST', 'audience must be specified'), status.INVALID_ARGUMENT, 'audience must be specified'],
    ['invalid token', new WorkloadError('INVALID_TOKEN', 'token has expired'), status.INVALID_ARGUMENT, 'token has expired'],
    ['WIT', new WorkloadError('UNIMPLEMENTED', 'no WIT'), status.UNIMPLEMENTED, 'no WIT'],
    ['process gone (attest)', new AttestError('PROCESS_GONE', '/proc/1: ENOENT'), status.UNAUTHENTICATED, 'could not verify existence of the original caller'],
    ['pid reused (attest)', new AttestError('PID_REUSED', 'start time differs'), status.UNAUTHENTICATED, 'could not verify existence of the original caller'],
    ['attestation failed (attest)', new AttestError('ATTESTATION_FAILED', 'EACCES'), status.UNAVAILABLE, 'workload attestation failed'],
    ['a kernel call (kernel)', new KernelError('SYSCALL', 'poll pidfd: EBADF'), status.UNAVAILABLE, 'workload attestation failed'],
    ['minting (ca)', new CaError('MINT_FAILED', 'sign failed at /var/lib/tether/ca/key'), status.UNAVAILABLE, 'could not issue an SVID'],
    ['a bad token (spiffe)', new SpiffeError('AUD_MISMATCH', 'audience "db" is not in the token'), status.INVALID_ARGUMENT, 'audience "db" is not in the token'],
    ['a bad ID (spiffe)', new SpiffeError('WRONG_SCHEME', 'scheme is missing or invalid'), status.INVALID_ARGUMENT, 'scheme is missing or invalid'],
  ] as const)('%s', (_name, err, code, details) => {
    expect(toStatus(err, new RecordingLog())).toEqual({ code, details });
  });

  it('answers UNAVAILABLE to an error it does not know, logs it, and tells the client nothing of it', () => {
    const log = new RecordingLog();
    const err = new TypeError('cannot read properties of undefined at /srv/secret/path.ts:12');
    const answer = toStatus(err, log);
    expect(answer).toEqual({ code: status.UNAVAILABLE, details: 'workload API unavailable' });
    expect(log.lines).toEqual([{ level: 'error', obj: { err }, msg: expect.stringContaining('unexpected') }]);
  });

  it('does not pass an internal error\'s message on, however it is mapped', () => {
    const answer = toStatus(new CaError('STATE_IO', 'EACCES: /var/lib/tether/ca/root.key'), new RecordingLog());
    expect(answer.details).not.toContain('/var/lib');
  });

  it('treats a SpiffeError about data the server holds as unexpected (UNAVAILABLE)', () => {
    expect(toStatus(new SpiffeError('MALFORMED_DER', 'x'), new RecordingLog()).code).toBe(status.UNAVAILABLE);
  });
});
