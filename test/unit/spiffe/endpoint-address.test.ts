import { describe, expect, it } from 'vitest';
import { parseEndpointAddress, SpiffeError } from '../../../agent/spiffe/index.js';

function failure(value: string): SpiffeError {
  try {
    parseEndpointAddress(value);
  } catch (error) {
    expect(error).toBeInstanceOf(SpiffeError);
    expect((error as SpiffeError).code).toBe('BAD_ENDPOINT_ADDRESS');
    return error as SpiffeError;
  }
  throw new Error(`parseEndpointAddress(${JSON.stringify(value)}) did not throw`);
}

describe('parseEndpointAddress: unix', () => {
  it('takes the absolute path', () => {
    expect(parseEndpointAddress('unix:///run/spire/sockets/agent.sock')).toEqual({ kind: 'unix', path: '/run/spire/sockets/agent.sock' });
  });

  it('accepts the authority-less form unix:/path (no authority is what the spec asks)', () => {
    expect(parseEndpointAddress('unix:/tmp/agent.sock')).toEqual({ kind: 'unix', path: '/tmp/agent.sock' });
  });

  it('percent-decodes the path as net/url does', () => {
    expect(parseEndpointAddress('unix:///tmp/my%20agent.sock')).toEqual({ kind: 'unix', path: '/tmp/my agent.sock' });
  });

  it('treats the scheme case-insensitively (RFC 3986 3.1)', () => {
    expect(parseEndpointAddress('UNIX:///tmp/a.sock')).toEqual({ kind: 'unix', path: '/tmp/a.sock' });
  });

  it.each([
    ['an authority', 'unix://host/tmp/a.sock', 'must not include an authority'],
    ['user info', 'unix://u@/tmp/a.sock', 'must not include user info'],
    ['no path', 'unix:', 'must include a path'],
    ['an opaque path', 'unix:tmp/a.sock', 'must not be opaque'],
    ['an empty query', 'unix:///tmp/a.sock?', 'must not include query values'],
    ['an empty fragment', 'unix:///tmp/a.sock#', 'must not include a fragment'],
    ['a broken percent escape', 'unix:///tmp/a%2.sock', 'invalid percent escape at path index 6'],
    ['an escape that is not UTF-8', 'unix:///tmp/a%FF.sock', 'does not decode to UTF-8'],
    ['an encoded NUL', 'unix:///tmp/a%00.sock', 'NUL'],
  ])('rejects %s', (_rule, value, message) => {
    expect(failure(value).message).toContain(message);
  });
});

describe('parseEndpointAddress: tcp', () => {
  it('takes an IPv4 host and port', () => {
    expect(parseEndpointAddress('tcp://10.0.0.1:8081')).toEqual({ kind: 'tcp', host: '10.0.0.1', port: 8081 });
  });

  it.each([
    ['[::1]:8000', '::1'],
    ['[2001:db8::8:800:200c:417a]:443', '2001:db8::8:800:200c:417a'],
    ['[1:2:3:4:5:6:7:8]:1', '1:2:3:4:5:6:7:8'],
    ['[1:2:3:4:5:6:7::]:1', '1:2:3:4:5:6:7::'],
    ['[::ffff:192.0.2.1]:1', '::ffff:192.0.2.1'],
    ['[::]:1', '::'],
  ])('takes a bracketed IPv6 host: %s', (authority, host) => {
    expect(parseEndpointAddress(`tcp://${authority}`)).toEqual({ kind: 'tcp', host, port: Number(authority.split(':').pop()) });
  });

  it.each([
    ['an unbracketed IPv6 address', 'tcp://::1:8000', 'must be an IP:port'],
    ['a bracketed IPv4 address', 'tcp://[127.0.0.1]:8000', 'must be an IP:port'],
    ['an IPv6 zone', 'tcp://[fe80::1%25eth0]:8000', 'must be an IP:port'],
    ['nine IPv6 groups', 'tcp://[1:2:3:4:5:6:7:8:9]:1', 'must be an IP:port'],
    ['two "::"', 'tcp://[1::2::3]:1', 'must be an IP:port'],
    ['"::" standing for no group', 'tcp://[1:2:3:4:5:6:7:8::]:1', 'must be an IP:port'],
    ['an IPv4 tail before "::"', 'tcp://[1.2.3.4::]:1', 'must be an IP:port'],
    ['a leading zero in IPv4', 'tcp://127.0.0.01:80', 'must be an IP:port'],
    ['an IPv4 octet over 255', 'tcp://1.2.3.256:80', 'must be an IP:port'],
    ['a host name', 'tcp://localhost:80', 'must be an IP:port'],
    ['an empty port', 'tcp://1.2.3.4:', 'must include a port'],
    ['port 0', 'tcp://1.2.3.4:0', 'from 1 to 65535: got "0"'],
    ['port 65536', 'tcp://1.2.3.4:65536', 'from 1 to 65535'],
    ['a non-numeric port', 'tcp://1.2.3.4:http', 'from 1 to 65535'],
    ['an empty query', 'tcp://1.2.3.4:80?', 'must not include query values'],
    ['user info before the path', 'tcp://u@1.2.3.4:80/x', 'must not include user info'],
    ['a one-slash form', 'tcp:/1.2.3.4:80', 'must include a host'],
  ])('rejects %s', (_rule, value, message) => {
    expect(failure(value).message).toContain(message);
  });
});

describe('parseEndpointAddress: what WHATWG URL would repair', () => {
  it.each([
    ['a tab inside', 'unix:///tmp/a\t.sock', 'invalid control character in URL at index 13'],
    ['a trailing newline', 'unix:///tmp/a.sock\n', 'invalid control character in URL at index 18'],
    ['DEL', 'tcp://1.2.3.4:5\x7f', 'invalid control character in URL at index 15'],
    ['leading whitespace', ' unix:///tmp/a.sock', 'must have a "tcp" or "unix" scheme'],
    ['a bare path', '/tmp/a.sock', 'must have a "tcp" or "unix" scheme'],
    ['an empty scheme', '://1.2.3.4:5', 'must have a "tcp" or "unix" scheme'],
  ])('rejects %s', (_rule, value, message) => {
    expect(failure(value).message).toContain(message);
  });
});
