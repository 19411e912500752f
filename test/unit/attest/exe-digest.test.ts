import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttestError } from '../../../agent/attest/errors.js';
import { ExeDigests } from '../../../agent/attest/exe-digest.js';

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

describe('ExeDigests', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tether-digest-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the sha256 that openssl gives, across several read chunks', async () => {
    const file = join(dir, 'big');
    // 2.5 MiB of varied bytes: more than one 1 MiB chunk, with a partial last one.
    const data = Buffer.alloc(2.5 * 2 ** 20, 0);
    for (let i = 0; i < data.length; i += 1) data[i] = (i * 31 + (i >> 11)) & 0xff;
    writeFileSync(file, data);
    const openssl = execFileSync('openssl', ['dgst', '-sha256', '-r', file], { encoding: 'utf8' }).split(' ')[0];
    const digest = await new ExeDigests().digest(file);
    expect(digest).toBe(openssl);
    expect(digest).toBe(sha256(data));
  });

  it('hashes an empty file', async () => {
    const file = join(dir, 'empty');
    writeFileSync(file, '');
    expect(await new ExeDigests().digest(file)).toBe(sha256(''));
  });

  it('reads an unchanged file once and a rewritten one again', async () => {
    const file = join(dir, 'tool');
    writeFileSync(file, 'version one');
    const digests = new ExeDigests();
    const first = await digests.digest(file);
    expect(await digests.digest(file)).toBe(first);
    expect(digests.stats()).toEqual({ hits: 1, misses: 1, shared: 0, entries: 1 });

    writeFileSync(file, 'version two, longer');
    const second = await digests.digest(file);
    expect(second).toBe(sha256('version two, longer'));
    expect(second).not.toBe(first);
    expect(digests.stats()).toMatchObject({ hits: 1, misses: 2 });
  });

  it('hashes the file a process runs through /proc/self/exe', async () => {
    const digests = new ExeDigests();
    const digest = await digests.digest('/proc/self/exe');
    expect(digest).toBe(sha256(readFileSync(process.execPath)));
  });

  it('shares one hash between concurrent calls for the same file', async () => {
    const file = join(dir, 'shared');
    writeFileSync(file, Buffer.alloc(4 * 2 ** 20, 7));
    const digests = new ExeDigests();
    const results = await Promise.all([digests.digest(file), digests.digest(file), digests.digest(file)]);
    expect(new Set(results)).toEqual(new Set([sha256(Buffer.alloc(4 * 2 ** 20, 7))]));
    const stats = digests.stats();
    expect(stats.misses).toBe(1);
    expect(stats.hits + stats.shared).toBe(2);
  });

  it('keeps at most maxEntries, dropping the least recently used', async () => {
    const files = ['a', 'b', 'c'].map((name) => {
      const file = join(dir, `lru-${name}`);
      writeFileSync(file, name);
      return file;
    });
    const [a, b, c] = files as [string, string, string];
    const digests = new ExeDigests({ maxEntries: 2 });
    await digests.digest(a);
    await digests.digest(b);
    await digests.digest(a); // a is now the most recent
    await digests.digest(c); // evicts b
    expect(digests.stats()).toMatchObject({ entries: 2, hits: 1, misses: 3 });
    await digests.digest(a);
    expect(digests.stats()).toMatchObject({ hits: 2, misses: 3 });
    await digests.digest(b);
    expect(digests.stats()).toMatchObject({ hits: 2, misses: 4, entries: 2 });
  });

  it('says PROCESS_GONE for a missing file and ATTESTATION_FAILED for an unreadable one', async () => {
    const digests = new ExeDigests();
    await expect(digests.digest(join(dir, 'nope'))).rejects.toMatchObject({ name: 'AttestError', code: 'PROCESS_GONE' });
    const err = await digests.digest(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AttestError);
    expect(err).toMatchObject({ code: 'ATTESTATION_FAILED' });
    expect((err as AttestError).cause).toMatchObject({ code: 'EISDIR' });
  });
});
