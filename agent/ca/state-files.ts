import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, fchmodSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CaError } from './errors.js';

/**
 * Every file of the CA's state is one header line, then the payload (PEM, or JSON for the manifest):
 *
 *   tether-state v1 kind=ca-key bytes=241 sha256=<64 hex of the payload>
 *   -----BEGIN PRIVATE KEY----- ...
 *
 * Why a header and not a `.sha256` sidecar: payload and checksum then live in one file, so one
 * rename commits both; with a sidecar a crash between its two renames leaves a pair that disagrees
 * and reads as corruption when it is not. Why not a JSON envelope: PEM readers skip text before the
 * armour, so `openssl x509 -in <file>` / `openssl pkey -in <file>` still read our files as they are.
 * The byte count tells a truncated write from an edit; `kind` catches a file in the wrong place.
 * A file that fails any check is reported (CORRUPT_STATE, naming the file and the problem) and left
 * exactly as it is: deciding to replace it is the operator's call, never ours.
 */
export type StateFileKind = 'manifest' | 'ca-cert' | 'ca-key' | 'jwt-key';

export interface StateFileWriteOptions {
  readonly kind: StateFileKind;
  /** The file's exact mode (umask does not apply): 0o600 for keys and the manifest. */
  readonly mode: number;
}

const FORMAT_VERSION = 1;
const HEADER = /^tether-state v(\d+) kind=([a-z0-9-]+) bytes=(\d+) sha256=([0-9a-f]{64})$/;
const MAX_HEADER_BYTES = 256;

export function encodeStateFile(kind: StateFileKind, payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const digest = createHash('sha256').update(body).digest('hex');
  const header = `tether-state v${FORMAT_VERSION} kind=${kind} bytes=${body.length} sha256=${digest}\n`;
  return Buffer.concat([Buffer.from(header, 'ascii'), body]);
}

/** The payload of a state file's bytes, or CORRUPT_STATE / UNSUPPORTED_STATE saying what is wrong with them. */
export function decodeStateFile(path: string, bytes: Buffer, kind: StateFileKind): Buffer {
  const corrupt = (problem: string): CaError =>
    new CaError('CORRUPT_STATE', `state file ${path} ${problem}; it was left as it is`, { path });
  if (bytes.length === 0) throw corrupt('is empty (0 bytes): a write was cut short or the file was truncated');
  const newline = bytes.subarray(0, MAX_HEADER_BYTES).indexOf(0x0a);
  const firstLine = bytes.subarray(0, newline < 0 ? Math.min(bytes.length, MAX_HEADER_BYTES) : newline).toString('latin1');
  const header = newline < 0 ? null : HEADER.exec(firstLine);
  if (!header) {
    if (firstLine.startsWith('-----BEGIN')) throw corrupt('is bare PEM without its tether-state header: it was replaced by hand');
    if (firstLine.startsWith('tether-state ')) throw corrupt(`has a damaged header line ("${firstLine.slice(0, 80)}")`);
    throw corrupt('does not start with a tether-state header');
  }
  const [, version = '', fileKind = '', bytesText = '', digest = ''] = header;
  if (Number(version) !== FORMAT_VERSION) {
    throw new CaError('UNSUPPORTED_STATE', `state file ${path} has format v${version}; this agent reads v${FORMAT_VERSION}`, { path });
  }
  if (fileKind !== kind) throw corrupt(`holds a ${fileKind}, where a ${kind} belongs`);
  const body = bytes.subarray(newline + 1);
  const expected = Number(bytesText);
  if (body.length < expected) throw corrupt(`is truncated: ${body.length} of ${expected} payload bytes`);
  if (body.length > expected) throw corrupt(`has ${body.length - expected} bytes more than the ${expected} its header records`);
  if (createHash('sha256').update(body).digest('hex') !== digest) {
    throw corrupt('does not match its sha256: the payload was edited or corrupted');
  }
  return body;
}

/** The payload, or undefined when the file does not exist: a missing file is not a corrupt one. */
export async function readStateFile(path: string, kind: StateFileKind): Promise<Buffer | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new CaError('STATE_IO', `cannot read state file ${path}`, { cause: err, path });
  }
  return decodeStateFile(path, bytes, kind);
}

/**
 * Atomic replace: write `<file>.tmp-<pid>-<rand>` with the final mode, fsync it, rename it over
 * `<file>`, fsync the directory. A crash leaves either the old file or the new one, never a mix;
 * at worst a temp file, which nothing reads.
 */
export async function writeStateFile(path: string, payload: string | Buffer, options: StateFileWriteOptions): Promise<void> {
  const bytes = encodeStateFile(options.kind, payload);
  const temp = tempName(path);
  try {
    const handle = await open(temp, 'wx', options.mode);
    try {
      await handle.chmod(options.mode);
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    await syncDirectory(dirname(path));
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw new CaError('STATE_IO', `cannot write state file ${path}`, { cause: err, path });
  }
}

/**
 * The same, synchronously: for the manifest, whose commit must not let a mint run between
 * computing the next state and persisting it (see LocalAuthority). Small and rare.
 */
export function writeStateFileSync(path: string, payload: string | Buffer, options: StateFileWriteOptions): void {
  const bytes = encodeStateFile(options.kind, payload);
  const temp = tempName(path);
  try {
    const fd = openSync(temp, 'wx', options.mode);
    try {
      fchmodSync(fd, options.mode);
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    syncDirectorySync(dirname(path));
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // the temp file was never created, or is gone already
    }
    throw new CaError('STATE_IO', `cannot write state file ${path}`, { cause: err, path });
  }
}

/** fsync a directory, so that a rename (or a new entry) in it survives a power cut. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function syncDirectorySync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function tempName(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
