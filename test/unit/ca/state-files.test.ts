import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CaError } from '../../../agent/ca/errors.js';
import { encodeStateFile, readStateFile, writeStateFile, writeStateFileSync } from '../../../agent/ca/state-files.js';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tether-state-files-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function corruptWith(bytes: Buffer | string): Promise<CaError> {
  const path = join(dir, 'x.key');
  writeFileSync(path, bytes);
  const err = await readStateFile(path, 'ca-key').then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(CaError);
  const caError = err as CaError;
  expect(caError.path).toBe(path);
  expect(caError.message).toContain(path);
  return caError;
}

describe('writeStateFile', () => {
  it('writes atomically with the exact mode and leaves no temp file', async () => {
    const path = join(dir, 'a.key');
    await writeStateFile(path, PEM, { kind: 'ca-key', mode: 0o600 });
    await writeStateFile(join(dir, 'a.crt'), 'cert', { kind: 'ca-cert', mode: 0o644 });
    expect(readdirSync(dir).sort()).toEqual(['a.crt', 'a.key']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'a.crt')).mode & 0o777).toBe(0o644);
    expect((await readStateFile(path, 'ca-key'))?.toString()).toBe(PEM);
  });

  it('replaces a file whole, synchronously too', async () => {
    const path = join(dir, 'manifest.json');
    writeStateFileSync(path, '{"a":1}', { kind: 'manifest', mode: 0o600 });
    writeStateFileSync(path, '{"a":2}', { kind: 'manifest', mode: 0o600 });
    expect(readdirSync(dir)).toEqual(['manifest.json']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect((await readStateFile(path, 'manifest'))?.toString()).toBe('{"a":2}');
  });

  it('reports a failed write as STATE_IO and cleans up its temp file', async () => {
    const path = join(dir, 'taken');
    mkdirSync(path); // rename(file, non-empty dir) fails
    writeFileSync(join(path, 'inside'), '');
    await expect(writeStateFile(path, PEM, { kind: 'ca-key', mode: 0o600 })).rejects.toMatchObject({ code: 'STATE_IO', path });
    expect(() => writeStateFileSync(path, PEM, { kind: 'ca-key', mode: 0o600 })).toThrow(expect.objectContaining({ code: 'STATE_IO' }));
    expect(readdirSync(dir)).toEqual(['taken']);
    await expect(writeStateFile(join(dir, 'no', 'such', 'dir'), PEM, { kind: 'ca-key', mode: 0o600 })).rejects.toMatchObject({ code: 'STATE_IO' });
  });

  it('keeps PEM readable by openssl as it is: the header is text before the armour', async () => {
    const key = execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], { encoding: 'utf8' });
    const path = join(dir, 'k.key');
    await writeStateFile(path, key, { kind: 'ca-key', mode: 0o600 });
    expect(readFileSync(path, 'utf8')).toMatch(/^tether-state v1 kind=ca-key bytes=\d+ sha256=[0-9a-f]{64}\n-----BEGIN PRIVATE KEY-----/);
    expect(execFileSync('openssl', ['pkey', '-in', path], { encoding: 'utf8' })).toBe(key);
  });
});

describe('readStateFile', () => {
  it('tells a missing file (undefined) from a corrupt one (CORRUPT_STATE)', async () => {
    expect(await readStateFile(join(dir, 'absent.key'), 'ca-key')).toBeUndefined();
    expect((await corruptWith('')).code).toBe('CORRUPT_STATE');
  });

  it.each([
    ['an empty file', () => Buffer.alloc(0), /empty \(0 bytes\)/],
    ['a truncated write', () => encodeStateFile('ca-key', PEM).subarray(0, 120), /truncated: \d+ of \d+ payload bytes/],
    ['a header cut short', () => encodeStateFile('ca-key', PEM).subarray(0, 40), /damaged header line/],
    ['an edited payload', () => Buffer.from(encodeStateFile('ca-key', PEM).toString().replace('MIGH', 'MIGX')), /sha256/],
    ['bytes appended', () => Buffer.concat([encodeStateFile('ca-key', PEM), Buffer.from('\n')]), /1 bytes more than/],
    ['bare PEM', () => Buffer.from(PEM), /bare PEM without its tether-state header/],
    ['something else entirely', () => Buffer.from('hello\nworld'), /does not start with a tether-state header/],
    ['a file of another kind', () => encodeStateFile('ca-cert', PEM), /holds a ca-cert, where a ca-key belongs/],
    ['a zeroed block', () => Buffer.alloc(4096), /tether-state header/],
  ])('reports %s as CORRUPT_STATE naming the file and the problem', async (_name, bytes, problem) => {
    const err = await corruptWith(bytes());
    expect(err.code).toBe('CORRUPT_STATE');
    expect(err.message).toMatch(problem);
  });

  it('reports a newer format as UNSUPPORTED_STATE, not as corruption', async () => {
    const v2 = Buffer.from(encodeStateFile('ca-key', PEM).toString().replace('tether-state v1', 'tether-state v2'));
    expect((await corruptWith(v2)).code).toBe('UNSUPPORTED_STATE');
  });

  it('reports an unreadable file as STATE_IO', async () => {
    mkdirSync(join(dir, 'adir'));
    await expect(readStateFile(join(dir, 'adir'), 'ca-key')).rejects.toMatchObject({ code: 'STATE_IO' });
  });
});
