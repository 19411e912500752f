/**
 * The Workload API endpoint address (SPIFFE_ENDPOINT_SOCKET, SPIFFE_Workload_Endpoint.md 4):
 * "unix:///abs/path" or "tcp://<IP>:<port>". Parsed by hand, splitting as RFC 3986 and Go's
 * net/url do (fragment, then query, then authority), because WHATWG URL silently repairs input
 * (strips tabs and newlines, lower-cases, resolves dot segments) that go-spiffe rejects.
 * Messages follow go-spiffe's workloadapi wording so operators see the same text.
 */
import { SpiffeError } from './errors.js';

export type EndpointAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

interface UriParts {
  readonly opaque: boolean;              // "tcp:x": no "//" and no "/"
  readonly authority: string | undefined;
  readonly path: string;
  readonly query: string | undefined;
  readonly fragment: string | undefined;
}

function bad(message: string): SpiffeError {
  return new SpiffeError('BAD_ENDPOINT_ADDRESS', message);
}

export function parseEndpointAddress(value: string): EndpointAddress {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) throw bad(`invalid control character in URL at index ${i}`);
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(value);
  // Schemes are case-insensitive (RFC 3986 3.1); net/url lower-cases them too.
  const name = scheme?.[1]?.toLowerCase();
  if (scheme === null || (name !== 'tcp' && name !== 'unix')) {
    throw bad('workload endpoint socket URI must have a "tcp" or "unix" scheme');
  }
  const parts = splitUri(value.slice(scheme[0].length));
  return name === 'tcp' ? tcpAddress(parts) : unixAddress(parts);
}

function splitUri(rest: string): UriParts {
  const hash = rest.indexOf('#');
  const fragment = hash < 0 ? undefined : rest.slice(hash + 1);
  if (hash >= 0) rest = rest.slice(0, hash);
  const mark = rest.indexOf('?');
  const query = mark < 0 ? undefined : rest.slice(mark + 1);
  if (mark >= 0) rest = rest.slice(0, mark);
  if (!rest.startsWith('//')) {
    return { opaque: rest !== '' && !rest.startsWith('/'), authority: undefined, path: rest, query, fragment };
  }
  const slash = rest.indexOf('/', 2);
  const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
  return { opaque: false, authority, path: slash < 0 ? '' : rest.slice(slash), query, fragment };
}

/**
 * The same checks in the same order as go-spiffe, except that an empty "?" or "#" is still a
 * query or fragment (net/url only sees non-empty ones) and the host must be bracketed if IPv6.
 */
function tcpAddress(u: UriParts): EndpointAddress {
  const authority = u.authority ?? '';
  if (u.opaque) throw bad('workload endpoint tcp socket URI must not be opaque');
  if (authority.includes('@')) throw bad('workload endpoint tcp socket URI must not include user info');
  if (authority === '') throw bad('workload endpoint tcp socket URI must include a host');
  if (u.path !== '') throw bad('workload endpoint tcp socket URI must not include a path');
  if (u.query !== undefined) throw bad('workload endpoint tcp socket URI must not include query values');
  if (u.fragment !== undefined) throw bad('workload endpoint tcp socket URI must not include a fragment');
  const { host, port } = splitHostPort(authority);
  // RFC 3986 3.2.2: brackets hold an IPv6 literal, and only an IPv6 literal.
  if (authority.startsWith('[') ? !isIPv6(host) : !isIPv4(host)) {
    throw bad('workload endpoint tcp socket URI host component must be an IP:port');
  }
  if (port === undefined || port === '') throw bad('workload endpoint tcp socket URI host component must include a port');
  const n = /^[0-9]{1,5}$/.test(port) ? Number(port) : NaN;
  if (!(n >= 1 && n <= 65535)) throw bad(`workload endpoint tcp socket URI port must be a number from 1 to 65535: got ${JSON.stringify(port)}`);
  return { kind: 'tcp', host, port: n };
}

/** "[v6]:port", "v4:port" or a host alone; an unbracketed host with several ':' is no IP:port. */
function splitHostPort(authority: string): { host: string; port: string | undefined } {
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return { host: authority, port: undefined };
    const after = authority.slice(close + 1);
    const host = authority.slice(1, close);
    if (after === '') return { host, port: undefined };
    return after.startsWith(':') ? { host, port: after.slice(1) } : { host: authority, port: undefined };
  }
  const colon = authority.indexOf(':');
  if (colon < 0) return { host: authority, port: undefined };
  if (authority.indexOf(':', colon + 1) >= 0) return { host: authority, port: undefined };
  return { host: authority.slice(0, colon), port: authority.slice(colon + 1) };
}

function unixAddress(u: UriParts): EndpointAddress {
  const authority = u.authority ?? '';
  if (u.opaque) throw bad('workload endpoint unix socket URI must not be opaque');
  if (authority.includes('@')) throw bad('workload endpoint unix socket URI must not include user info');
  if (authority === '' && u.path === '') throw bad('workload endpoint unix socket URI must include a path');
  if (u.query !== undefined) throw bad('workload endpoint unix socket URI must not include query values');
  if (u.fragment !== undefined) throw bad('workload endpoint unix socket URI must not include a fragment');
  // The spec forbids an authority; go-spiffe would dial "unix://foo" as the relative path "foo".
  if (authority !== '') {
    throw bad(`workload endpoint unix socket URI must not include an authority (${JSON.stringify(authority)}): write unix:///absolute/path`);
  }
  return { kind: 'unix', path: decodePath(u.path) };
}

/** Percent-decodes as net/url does; a NUL can never be part of a socket path. */
function decodePath(path: string): string {
  const badEscape = /%(?![0-9A-Fa-f]{2})/.exec(path);
  if (badEscape) throw bad(`workload endpoint unix socket URI has an invalid percent escape at path index ${badEscape.index}`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch (cause) {
    throw new SpiffeError('BAD_ENDPOINT_ADDRESS', 'workload endpoint unix socket URI path does not decode to UTF-8', { cause });
  }
  if (decoded.includes('\0')) throw bad('workload endpoint unix socket URI path must not contain a NUL byte');
  return decoded;
}

/** Dotted quad, no leading zeros (Go's net.ParseIP rejects them: they read as octal elsewhere). */
function isIPv4(s: string): boolean {
  return /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/.test(s);
}

/** RFC 4291 2.2 text form: 8 groups, one "::" for at least one zero group, optional IPv4 tail. No zones. */
function isIPv6(s: string): boolean {
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const groups = (half: string): string[] => (half === '' ? [] : half.split(':'));
  const tail = groups(halves[1] ?? '');
  const all = [...groups(halves[0] ?? ''), ...tail];
  // The IPv4 tail must end the address: "1.2.3.4::" has it before the "::".
  const v4Allowed = halves.length === 1 || tail.length > 0;
  let count = 0;
  for (const [i, g] of all.entries()) {
    if (v4Allowed && i === all.length - 1 && g.includes('.')) {
      if (!isIPv4(g)) return false;
      count += 2;
    } else if (/^[0-9A-Fa-f]{1,4}$/.test(g)) {
      count += 1;
    } else {
      return false;
    }
  }
  return halves.length === 2 ? count <= 7 : count === 8;
}
