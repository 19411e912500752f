import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnforceError } from '../../../agent/enforce/errors.js';
import { IdentityNumbers } from '../../../agent/enforce/identity-numbers.js';
import { requireSpiffeId } from '../../../agent/spiffe/index.js';

const WEB = requireSpiffeId('spiffe://example.org/web');
const DB = requireSpiffeId('spiffe://example.org/db');
const CACHE = requireSpiffeId('spiffe://example.org/cache');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-numbers-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const file = () => join(dir, 'identity-numbers.json');

async function refusal(): Promise<EnforceError> {
  try {
    await IdentityNumbers.open(dir);
  } catch (err) {
    if (err instanceof EnforceError) return err;
    throw err;
  }
  throw new Error('the file was accepted');
}

describe('IdentityNumbers', () => {
  it('hands out increasing numbers from 16 and keeps them across a reopen', async () => {
    const numbers = await IdentityNumbers.open(dir);
    expect(numbers.entries()).toEqual([]);
    expect(numbers.numberOf(WEB)).toBe(16);
    expect(numbers.numberOf(DB)).toBe(17);
    expect(numbers.numberOf(WEB)).toBe(16);
    const again = await IdentityNumbers.open(dir);
    expect(again.numberOf(DB)).toBe(17);
    expect(again.numberOf(WEB)).toBe(16);
    expect(again.idOf(17)?.toString()).toBe(DB.toString());
    expect(again.idOf(0)).toBeUndefined();
    expect(again.numberOf(CACHE)).toBe(18);
    expect(again.entries()).toEqual([[WEB.toString(), 16], [DB.toString(), 17], [CACHE.toString(), 18]]);
  });

  it('persists a batch of new IDs in one write, before returning', async () => {
    const numbers = await IdentityNumbers.open(dir);
    numbers.numberOf(WEB);
    expect(numbers.writeCount).toBe(1);
    const assigned = await numbers.assign([DB, WEB, CACHE, DB]);
    expect(numbers.writeCount).toBe(2);
    expect([...assigned]).toEqual([[DB.toString(), 17], [WEB.toString(), 16], [CACHE.toString(), 18]]);
    expect((await IdentityNumbers.open(dir)).entries()).toEqual(numbers.entries());
    await numbers.assign([WEB, DB]);
    expect(numbers.writeCount).toBe(2);
  });

  it('never reuses a number, even for IDs no longer in the file', async () => {
    await writeFile(file(), JSON.stringify({ version: 1, next: 40, numbers: { [WEB.toString()]: 16 } }));
    const numbers = await IdentityNumbers.open(dir);
    expect(numbers.numberOf(DB)).toBe(40);
    expect(numbers.numberOf(WEB)).toBe(16);
  });

  it('writes the file with mode 0600 and leaves no temp files', async () => {
    const numbers = await IdentityNumbers.open(dir);
    await numbers.assign([WEB, DB]);
    numbers.numberOf(CACHE);
    expect((await stat(file())).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['identity-numbers.json']);
  });

  it('refuses NUMBERS_EXHAUSTED at 2^31, handing out nothing', async () => {
    await writeFile(file(), JSON.stringify({ version: 1, next: 2 ** 31 - 1, numbers: {} }));
    const numbers = await IdentityNumbers.open(dir);
    expect(numbers.numberOf(WEB)).toBe(2 ** 31 - 1);
    await expect(numbers.assign([DB, CACHE])).rejects.toMatchObject({ code: 'NUMBERS_EXHAUSTED' });
    expect(() => numbers.numberOf(DB)).toThrow(expect.objectContaining({ code: 'NUMBERS_EXHAUSTED' }));
    expect(numbers.entries()).toEqual([[WEB.toString(), 2 ** 31 - 1]]);
  });

  it.each([
    ['truncated', (good: string) => good.slice(0, good.length / 2), /not JSON/],
    ['empty', () => '', /not JSON/],
    ['a bad ID', () => JSON.stringify({ version: 1, next: 17, numbers: { 'spiffe://Bad/x': 16 } }), /"spiffe:\/\/Bad\/x"/],
    ['a number at or above next', () => JSON.stringify({ version: 1, next: 17, numbers: { [WEB.toString()]: 17 } }), /not below "next"/],
    ['a reserved number', () => JSON.stringify({ version: 1, next: 17, numbers: { [WEB.toString()]: 3 } }), /corrupt/],
    ['one number twice', () => JSON.stringify({ version: 1, next: 18, numbers: { [WEB.toString()]: 16, [DB.toString()]: 16 } }),
      /16 is given to two IDs/],
    ['an unknown version', () => JSON.stringify({ version: 2, next: 16, numbers: {} }), /corrupt/],
  ])('refuses a %s file as IDENTITY_NUMBERS and leaves its bytes alone', async (_what, corrupt, reason) => {
    const numbers = await IdentityNumbers.open(dir);
    await numbers.assign([WEB]);
    const bad = corrupt(await readFile(file(), 'utf8'));
    await writeFile(file(), bad);
    const err = await refusal();
    expect(err.code).toBe('IDENTITY_NUMBERS');
    expect(err.file).toBe(file());
    expect(err.message).toContain(file());
    expect(err.message).toMatch(reason);
    expect(await readFile(file(), 'utf8')).toBe(bad);
  });
});
