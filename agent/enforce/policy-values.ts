import { isIP } from 'node:net';
import { formatIp, ipv4Bytes, ipv6Bytes } from '../kernel/index.js';
import { SpiffeError, SpiffeId, TrustDomain } from '../spiffe/index.js';

/**
 * The values a policy rule is made of, each parsed once from its text: identity patterns, CIDRs
 * and port ranges. A parser returns the value or a reason that states the broken rule.
 */

/** One SPIFFE ID, or every ID strictly below a path ("spiffe://td/ns/prod/*"). */
export type IdPattern =
  | { readonly kind: 'exact'; readonly id: SpiffeId }
  | { readonly kind: 'prefix'; readonly trustDomain: TrustDomain; readonly pathPrefix: string /* '/ns/prod/' */ };

export interface Cidr {
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network order, host bits zero. */
  readonly address: Buffer;
  readonly prefixLength: number;
}

/** Inclusive; a single port is { first: p, last: p }. */
export interface PortRange {
  readonly first: number;
  readonly last: number;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const refuse = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

/** "spiffe://td/path" or "spiffe://td/path/*"; '*' only as the whole last segment. */
export function parseIdPattern(text: string): Parsed<IdPattern> {
  const star = text.indexOf('*');
  const isPrefix = star !== -1 && star === text.length - 1 && text.endsWith('/*');
  if (star !== -1 && !isPrefix) {
    return refuse(`"*" is allowed only as the whole last segment ("spiffe://td/path/*"), found at index ${star}`);
  }
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(isPrefix ? text.slice(0, -2) : text);
  } catch (err) {
    if (err instanceof SpiffeError) return refuse(err.message);
    throw err;
  }
  if (isPrefix) return ok({ kind: 'prefix', trustDomain: id.trustDomain, pathPrefix: `${id.path}/` });
  if (id.isRoot()) {
    return refuse(`${text} is a trust domain's own ID, which no workload has: write ${text}/* for every workload in it`);
  }
  return ok({ kind: 'exact', id });
}

/** Whether `id` is the pattern's ID, or lies strictly below its path in its trust domain. */
export function matchesId(pattern: IdPattern, id: SpiffeId): boolean {
  switch (pattern.kind) {
    case 'exact':
      return pattern.id.equals(id);
    case 'prefix':
      return id.memberOf(pattern.trustDomain) && id.path.length > pattern.pathPrefix.length
        && id.path.startsWith(pattern.pathPrefix);
    default:
      return pattern satisfies never;
  }
}

/** "10.0.0.0/8", "fd00::/8"; a bare address is a single host (/32, /128). Host bits must be zero. */
export function parseCidr(text: string): Parsed<Cidr> {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const family = isIP(addressText);
  if (family !== 4 && family !== 6) return refuse(`"${addressText}" is not an IPv4 or IPv6 address`);
  const bits = family === 4 ? 32 : 128;
  const lengthText = slash === -1 ? String(bits) : text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lengthText) || Number(lengthText) > bits) {
    return refuse(`prefix length "${lengthText}" must be a whole number from 0 to ${bits}`);
  }
  const prefixLength = Number(lengthText);
  const address = family === 4 ? ipv4Bytes(addressText) : ipv6Bytes(addressText);
  if (hasHostBits(address, prefixLength)) {
    const network = Buffer.from(address);
    clearHostBits(network, prefixLength);
    return refuse(`${text} has host bits set below the /${prefixLength} prefix: did you mean ${formatAddress(family, network)}/${prefixLength}?`);
  }
  return ok({ family, address, prefixLength });
}

/** 443, "443" or "8000-8100"; every port 1-65535, a range low to high. */
export function parsePortRange(value: number | string): Parsed<PortRange> {
  const text = String(value);
  const match = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text);
  if (match === null) return refuse(`"${text}" is not a port (1-65535) or a range "low-high"`);
  const first = Number(match[1]);
  const last = match[2] === undefined ? first : Number(match[2]);
  for (const p of [first, last]) {
    if (p < 1 || p > 65535) return refuse(`port ${p} is out of range: ports are 1-65535`);
  }
  if (first > last) return refuse(`range "${text}" runs backwards: write the lower port first`);
  return ok({ first, last });
}

function hasHostBits(address: Buffer, prefixLength: number): boolean {
  const copy = Buffer.from(address);
  clearHostBits(copy, prefixLength);
  return !copy.equals(address);
}

function clearHostBits(address: Buffer, prefixLength: number): void {
  for (let i = 0; i < address.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLength - i * 8));
    address[i] = (address[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
}

/** Dotted quad, or IPv6 groups with the first run of zero groups written "::". */
export function formatAddress(family: 4 | 6, address: Buffer): string {
  return formatIp(family, address);
}

/** Whether `address` (4 or 16 bytes, network order) lies in the network. */
export function cidrContains(cidr: Cidr, family: 4 | 6, address: Buffer): boolean {
  if (cidr.family !== family) return false;
  const masked = Buffer.from(address);
  clearHostBits(masked, cidr.prefixLength);
  return masked.equals(cidr.address);
}

export function formatCidr(cidr: Cidr): string {
  return `${formatAddress(cidr.family, cidr.address)}/${cidr.prefixLength}`;
}

export function formatIdPattern(p: IdPattern): string {
  return p.kind === 'exact' ? p.id.toString() : `spiffe://${p.trustDomain.name}${p.pathPrefix}*`;
}

/** "5432", "8000-8080,9090", or "any" for no ranges. */
export function formatPorts(ranges: readonly PortRange[]): string {
  if (ranges.length === 0) return 'any';
  return ranges.map((r) => (r.first === r.last ? String(r.first) : `${r.first}-${r.last}`)).join(',');
}

export function portInRanges(ranges: readonly PortRange[], port: number): boolean {
  return ranges.length === 0 || ranges.some((r) => port >= r.first && port <= r.last);
}
