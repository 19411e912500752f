import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { AdminError, ERROR_CODE_TRAILER, INTERNAL_DETAILS, toStatus, type AdminErrorCode } from '../../../agent/admin/index.js';
import { adminCodeOf } from '../../../agent/admin/status.js';
import { RecordingLog } from '../../support/workload-server.js';

describe('toStatus', () => {
  it.each([
    ['NOT_ENFORCING', status.FAILED_PRECONDITION], ['BAD_POLICY', status.INVALID_ARGUMENT], ['BAD_REQUEST', status.INVALID_ARGUMENT],
    ['UNAVAILABLE', status.UNAVAILABLE], ['FELL_BEHIND', status.RESOURCE_EXHAUSTED],
  ] as const)('%s → %s, with the message as details and the code for the trailer', (code, expected) => {
    expect(toStatus(new AdminError(code, 'why'), new RecordingLog())).toEqual({ code: expected, details: 'why', adminCode: code });
  });

  it.each(['SOCKET_IN_USE', 'SOCKET_SETUP', 'UNREACHABLE', 'RPC_FAILED', 'BAD_RESPONSE'] as const)(
    '%s (never a backend\'s to throw) → INTERNAL, logged', (code: AdminErrorCode) => {
      const log = new RecordingLog();
      expect(toStatus(new AdminError(code, '/secret/path'), log)).toEqual({ code: status.INTERNAL, details: INTERNAL_DETAILS, adminCode: undefined });
      expect(log.lines).toMatchObject([{ level: 'error', obj: { code } }]);
    });

  it('answers any other error INTERNAL with a fixed text and logs the error itself', () => {
    const log = new RecordingLog();
    const err = new TypeError('cannot read properties of undefined');
    expect(toStatus(err, log)).toEqual({ code: status.INTERNAL, details: INTERNAL_DETAILS, adminCode: undefined });
    expect(log.lines[0]?.obj).toMatchObject({ err });
  });
});

describe('adminCodeOf', () => {
  const trailer = (value: string): Metadata => {
    const md = new Metadata();
    md.set(ERROR_CODE_TRAILER, value);
    return md;
  };

  it('reads a code a server sends, and nothing else', () => {
    expect(adminCodeOf(trailer('BAD_POLICY'))).toBe('BAD_POLICY');
    expect(adminCodeOf(trailer('UNREACHABLE'))).toBeUndefined(); // a client-side code: never on the wire
    expect(adminCodeOf(trailer('toString'))).toBeUndefined();
    expect(adminCodeOf(new Metadata())).toBeUndefined();
    expect(adminCodeOf(undefined)).toBeUndefined();
  });
});
