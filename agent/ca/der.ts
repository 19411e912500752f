/**
 * The few DER shapes an X509-SVID needs, written directly: the generic ASN.1 path builds about
 * 400 certificates a second here, and minting is on the hot path of every new workload. Only
 * what x509-minter.ts uses; certificates of the CA itself go through @peculiar/x509.
 */

/** A tag-length-value with definite length (X.690 8.1.3). */
export function tlv(tag: number, ...content: readonly Buffer[]): Buffer {
  const body = content.length === 1 ? (content[0] as Buffer) : Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
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
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z'; // YYYYMMDDHHMMSSZ
  const year = d.getUTCFullYear();
  return year < 2050 && year >= 1950 ? tlv(0x17, Buffer.from(digits.slice(2), 'latin1')) : tlv(0x18, Buffer.from(digits, 'latin1'));
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
