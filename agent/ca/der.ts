/**
 * The few DER shapes an X509-SVID needs, written directly: the generic ASN.1 path builds about
 * 400 certificates a second here, and minting is on the hot path of every new workload. Only
 * what x509-minter.ts uses; certificates of the CA itself go through @peculiar/x509.
 */

/** A tag-length-value with definite length (X.690 8.1.3). */
export function tlv(tag: number, ...content: readonly Buffer[]): Buffer {
  let n = 0;
  for (const c of content) n += c.length;
  const lengthBytes = n < 0x80 ? 0 : n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
  const out = Buffer.allocUnsafe(2 + lengthBytes + n); // one allocation: this runs ~20 times a mint
  out[0] = tag;
  if (lengthBytes === 0) out[1] = n;
  else {
    out[1] = 0x80 | lengthBytes;
    out.writeUIntBE(n, 2, lengthBytes);
  }
  let at = 2 + lengthBytes;
  for (const c of content) at += c.copy(out, at);
  return out;
}

export const seq = (...parts: readonly Buffer[]): Buffer => tlv(0x30, ...parts);
export const octetString = (b: Buffer): Buffer => tlv(0x04, b);
/** BIT STRING with no unused bits (signatures, keys). */
export const bitString = (b: Buffer): Buffer => tlv(0x03, Buffer.from([0]), b);
/** [n] EXPLICIT, constructed context-specific. */
export const explicit = (n: number, ...parts: readonly Buffer[]): Buffer => tlv(0xa0 | n, ...parts);
/** [n] IMPLICIT primitive context-specific (GeneralName choices). */
export const implicit = (n: number, b: Buffer): Buffer => tlv(0x80 | n, b);

/** A positive INTEGER from big-endian magnitude bytes (a leading 0 keeps the sign bit clear). */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return tlv(0x02, (m[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), m]) : m);
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always Zulu seconds. */
export function time(d: Date): Buffer {
  const year = d.getUTCFullYear();
  const two = (v: number): string => (v < 10 ? `0${v}` : `${v}`);
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  return year < 2050 && year >= 1950
    ? tlv(0x17, Buffer.from(`${two(year % 100)}${rest}`, 'latin1'))
    : tlv(0x18, Buffer.from(`${String(year).padStart(4, '0')}${rest}`, 'latin1'));
}

/** One TLV read from DER: where its value starts and ends. */
export interface Tlv { readonly tag: number; readonly start: number; readonly valueStart: number; readonly end: number }

export function readTlv(buf: Buffer, at: number): Tlv {
  const tag = buf[at];
  const first = buf[at + 1];
  if (tag === undefined || first === undefined) throw new RangeError(`DER: truncated at ${at}`);
  let len = first;
  let header = 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new RangeError(`DER: unsupported length form at ${at}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[at + 2 + i] ?? 0);
    header += n;
  }
  const end = at + header + len;
  if (end > buf.length) throw new RangeError(`DER: value at ${at} runs past the end`);
  return { tag, start: at, valueStart: at + header, end };
}

/** The children of a constructed TLV. */
export function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.valueStart; at < parent.end;) {
    const t = readTlv(buf, at);
    out.push(t);
    at = t.end;
  }
  return out;
}
