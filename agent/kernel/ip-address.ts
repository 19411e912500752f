/**
 * IP addresses as the BPF maps hold them (network order, IPv4 in 4 bytes, IPv6 in 16) and back
 * to text. One codec for every folder that turns map keys into addresses or rules into keys.
 */

/** `text` as isIP() accepted it: "10.0.0.1" → 4 bytes. */
export function ipv4Bytes(text: string): Buffer {
  return Buffer.from(text.split('.').map(Number));
}

/** `text` as isIP() accepted it (6): "::" stands for the missing zero groups, a dotted tail for two; a zone is dropped. */
export function ipv6Bytes(text: string): Buffer {
  const zone = text.indexOf('%');
  let body = zone === -1 ? text : text.slice(0, zone);
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(body)?.[1];
  if (dotted !== undefined) {
    const v4 = ipv4Bytes(dotted);
    body = `${body.slice(0, -dotted.length)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`;
  }
  const [head = '', tail] = body.split('::');
  const groups = (s: string | undefined): string[] => (s === undefined || s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Dotted quad (the first 4 bytes), or IPv6 groups with the first run of zero groups written "::". */
export function formatIp(family: 4 | 6, addr: Buffer): string {
  if (family === 4) return [...addr.subarray(0, 4)].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(addr.readUInt16BE(i).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}
