/**
 * PEM as Go's pem.Decode reads it, shared by bundles and SVIDs: "-----BEGIN X-----" starts a
 * line, text between blocks is ignored, a BEGIN without its END is skipped, and the body must be
 * strict base64 (Buffer.from() would skip junk silently).
 */

export interface PemBlock {
  readonly label: string;
  /** undefined when the body is not strict base64 (an encrypted key's headers, say). */
  readonly der: Buffer | undefined;
}

export function readPemBlocks(input: string | Buffer): PemBlock[] {
  const text = typeof input === 'string' ? input : input.toString('latin1');
  const begin = /(?:^|\n)-----BEGIN ([^\r\n]*?)-----[ \t]*\r?\n/g;
  const blocks: PemBlock[] = [];
  for (let m = begin.exec(text); m !== null; m = begin.exec(text)) {
    const label = m[1] ?? '';
    const endLine = `\n-----END ${label}-----`;
    const bodyStart = m.index + m[0].length;
    const end = text.indexOf(endLine, bodyStart - 1);
    if (end < 0) continue;
    blocks.push({ label, der: decodeBase64Strict(text.slice(bodyStart, end)) });
    begin.lastIndex = end + endLine.length;
  }
  return blocks;
}

function decodeBase64Strict(body: string): Buffer | undefined {
  const b64 = body.replace(/[ \t\r\n]/g, '');
  if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  return Buffer.from(b64, 'base64');
}

/**
 * The end offset of the DER SEQUENCE starting at `at`, or undefined if there is none: tag 0x30,
 * definite length in minimal form (DER), contents inside the buffer.
 */
export function derElementEnd(buf: Buffer, at: number): number | undefined {
  if (buf[at] !== 0x30) return undefined;
  const first = buf[at + 1];
  if (first === undefined) return undefined;
  let length = first;
  let header = 2;
  if (first >= 0x80) {
    const n = first & 0x7f;
    // 0x80 is BER's indefinite length; more than 4 length bytes is no certificate.
    if (n === 0 || n > 4 || at + 2 + n > buf.length) return undefined;
    length = buf.readUIntBE(at + 2, n);
    if (buf[at + 2] === 0 || length < 0x80) return undefined; // not minimal
    header += n;
  }
  const end = at + header + length;
  return end <= buf.length ? end : undefined;
}
