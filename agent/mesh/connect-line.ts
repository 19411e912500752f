import { isIPv4, isIPv6 } from 'node:net';
import { MeshError } from './errors.js';

/**
 * The tunnel's two one-line messages, ASCII, each ending in "\n" (no CR):
 *   client → server  `CONNECT <host>:<port>\n`, at most CONNECT_MAX_BYTES with the newline;
 *                    host an IPv4 dotted quad, `[IPv6]` or a DNS name; port 1..65535, no leading 0.
 *   server → client  `OK\n`, `DENIED\n` (policy) or `FAILED\n` (destination unreachable).
 *   client → server  after OK, `GO <n>\n`: the records the client read before it (tickets and
 *                    OK), the TX sequence number of a kTLS server (MESH.md §2); others ignore n.
 * Nothing else may travel before OK: the client sends no byte past CONNECT until it has read OK,
 * and the server none past OK until it has read GO.
 */
export const CONNECT_MAX_BYTES = 256;
export const REPLY_MAX_BYTES = 8;

export type ConnectTarget = { readonly host: string; readonly port: number };
export type Reply = 'OK' | 'DENIED' | 'FAILED';

const LINE = /^CONNECT ([^ ]+):([1-9][0-9]{0,4})$/;
const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

export function formatConnect(target: ConnectTarget): Buffer {
  const host = isIPv6(target.host) ? `[${target.host}]` : target.host;
  const line = Buffer.from(`CONNECT ${host}:${target.port}\n`, 'ascii');
  parseConnect(line.subarray(0, line.length - 1).toString('latin1')); // the same grammar both ways
  return line;
}

/** A CONNECT line without its "\n"; BAD_CONNECT names the broken rule. */
export function parseConnect(line: string): ConnectTarget {
  const m = LINE.exec(line);
  if (m === null) throw bad(`not \`CONNECT <host>:<port>\`: ${JSON.stringify(line.slice(0, 64))}`);
  const [, rawHost, rawPort] = m as unknown as [string, string, string];
  const port = Number(rawPort);
  if (port > 65535) throw bad(`port ${rawPort} is above 65535`);
  return { host: parseHost(rawHost), port };
}

function parseHost(raw: string): string {
  if (raw.startsWith('[') && raw.endsWith(']')) {
    const inner = raw.slice(1, -1);
    if (isIPv6(inner)) return inner;
    throw bad(`${JSON.stringify(raw)} is not a bracketed IPv6 address`);
  }
  if (/^[0-9.]+$/.test(raw)) {
    if (isIPv4(raw)) return raw;
    throw bad(`${JSON.stringify(raw)} is not a dotted-quad IPv4 address`);
  }
  if (raw.length <= 253 && raw.split('.').every((l) => LABEL.test(l))) return raw;
  throw bad(`${JSON.stringify(raw.slice(0, 64))} is not a host name`);
}

export function formatReply(reply: Reply): Buffer {
  return Buffer.from(`${reply}\n`, 'ascii');
}

export function parseReply(line: string): Reply {
  if (line === 'OK' || line === 'DENIED' || line === 'FAILED') return line;
  throw new MeshError('BAD_REPLY', `the tunnel server answered ${JSON.stringify(line.slice(0, 32))}, not OK, DENIED or FAILED`);
}

/** `GO <n>\n`: the records the client read before sending it (tickets and OK). */
export function formatGo(records: number): Buffer {
  return Buffer.from(`GO ${records}\n`, 'ascii');
}

export const GO_MAX_BYTES = 24;

/** A GO line without its "\n"; BAD_CONNECT otherwise. */
export function parseGo(line: string): number {
  const m = /^GO (0|[1-9][0-9]{0,15})$/.exec(line);
  if (m === null) throw new MeshError('BAD_CONNECT', `not \`GO <records>\`: ${JSON.stringify(line.slice(0, 32))}`);
  return Number(m[1]);
}

const bad = (message: string): MeshError => new MeshError('BAD_CONNECT', message);

/**
 * Collects chunks up to the first "\n". push() returns undefined while the line is incomplete,
 * else the line (without "\n") and the bytes after it; a line longer than `max` bytes (newline
 * included) throws `code` at once, so a peer cannot make us buffer without end.
 */
export class LineReader {
  readonly #max: number;
  readonly #code: 'BAD_CONNECT' | 'BAD_REPLY';
  #chunks: Buffer[] = [];
  #length = 0;

  constructor(max: number, code: 'BAD_CONNECT' | 'BAD_REPLY') {
    this.#max = max;
    this.#code = code;
  }

  push(chunk: Buffer): { readonly line: string; readonly rest: Buffer } | undefined {
    const nl = chunk.indexOf(0x0a);
    const upTo = nl === -1 ? chunk.length : nl + 1;
    if (this.#length + upTo > this.#max) {
      throw new MeshError(this.#code, `the line is longer than ${this.#max} bytes`);
    }
    this.#chunks.push(chunk.subarray(0, upTo));
    this.#length += upTo;
    if (nl === -1) return undefined;
    const whole = Buffer.concat(this.#chunks);
    this.#chunks = [];
    return { line: whole.subarray(0, whole.length - 1).toString('latin1'), rest: chunk.subarray(upTo) };
  }
}
