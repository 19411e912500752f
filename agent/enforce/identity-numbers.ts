import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { SpiffeError, SpiffeId } from '../spiffe/index.js';
import { EnforceError } from './errors.js';

/**
 * A stable u32 per SPIFFE ID, the key BPF maps use for an identity. 0 is "no identity" and 1-15
 * are reserved (external, ...), so IDs get 16, 17, ... in the order first seen. A number is
 * never handed out twice in the file's life, even when its ID is no longer used: a pinned map
 * or an audit event still naming the old number must not come to mean someone else. Numbers
 * stay below 2^31 so they fit a signed 32-bit value anywhere.
 *
 * Each new number is on disk before anyone sees it; writes are synchronous (a small file,
 * written only when an ID is first seen), so no two writes interleave.
 */

export const FIRST_IDENTITY_NUMBER = 16;
export const IDENTITY_NUMBER_LIMIT = 2 ** 31;
const FILE_NAME = 'identity-numbers.json';
const FILE_MODE = 0o600;

const fileSchema = z.strictObject({
  version: z.literal(1),
  /** The next number to hand out: above every number ever handed out. */
  next: z.number().int().min(FIRST_IDENTITY_NUMBER).max(IDENTITY_NUMBER_LIMIT),
  numbers: z.record(z.string(), z.number().int().min(FIRST_IDENTITY_NUMBER).max(IDENTITY_NUMBER_LIMIT - 1)),
});

export class IdentityNumbers {
  readonly path: string;
  private readonly byId = new Map<string, number>();
  private readonly byNumber = new Map<number, SpiffeId>();
  private next: number;
  private writes = 0;

  private constructor(path: string, next: number) {
    this.path = path;
    this.next = next;
  }

  /** The numbers in `<stateDir>/identity-numbers.json` (none yet if it is absent); a bad file is refused, never replaced. */
  static async open(stateDir: string): Promise<IdentityNumbers> {
    const path = join(stateDir, FILE_NAME);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new IdentityNumbers(path, FIRST_IDENTITY_NUMBER);
      throw new EnforceError('IDENTITY_NUMBERS', `cannot read ${path}`, { cause: err, file: path });
    }
    return IdentityNumbers.decode(path, text);
  }

  private static decode(path: string, text: string): IdentityNumbers {
    const corrupt = (reason: string, cause?: unknown) => new EnforceError('IDENTITY_NUMBERS',
      `${path} is corrupt (${reason}); it was left as it is: move it aside only if every pinned map is gone too`,
      { cause, file: path });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw corrupt('not JSON', err);
    }
    const result = fileSchema.safeParse(json);
    if (!result.success) throw corrupt(z.prettifyError(result.error).replaceAll('\n', '; '));
    const numbers = new IdentityNumbers(path, result.data.next);
    for (const [text, n] of Object.entries(result.data.numbers)) {
      let id: SpiffeId;
      try {
        id = SpiffeId.parse(text);
      } catch (err) {
        if (err instanceof SpiffeError) throw corrupt(`"${text}": ${err.message}`, err);
        throw err;
      }
      if (n >= numbers.next) throw corrupt(`${text} has ${n}, not below "next" ${numbers.next}`);
      if (numbers.byNumber.has(n)) throw corrupt(`${n} is given to two IDs`);
      numbers.byId.set(id.toString(), n);
      numbers.byNumber.set(n, id);
    }
    return numbers;
  }

  /** The ID's number, handing out (and persisting) the next one if it has none yet. */
  numberOf(id: SpiffeId): number {
    const known = this.byId.get(id.toString());
    if (known !== undefined) return known;
    const [n] = this.commit([id]);
    return n ?? this.unreachable();
  }

  idOf(n: number): SpiffeId | undefined {
    return this.byNumber.get(n);
  }

  /** Numbers for every ID; the new ones are persisted, in one write, before this returns. */
  async assign(ids: readonly SpiffeId[]): Promise<Map<string, number>> {
    const fresh = [...new Map(ids.filter((id) => !this.byId.has(id.toString())).map((id) => [id.toString(), id])).values()];
    if (fresh.length > 0) this.commit(fresh);
    return new Map(ids.map((id) => [id.toString(), this.byId.get(id.toString()) ?? this.unreachable()]));
  }

  /** [SPIFFE ID, number], in number order. */
  entries(): Array<[string, number]> {
    return [...this.byId.entries()].sort((a, b) => a[1] - b[1]);
  }

  /** How many times the file has been written by this instance (for metrics). */
  get writeCount(): number {
    return this.writes;
  }

  /**
   * Hands out numbers to `fresh` (none known yet) and writes the file; only then are they
   * visible. A failed write hands out nothing (the numbers it tried stay burnt, never reused).
   */
  private commit(fresh: readonly SpiffeId[]): number[] {
    if (this.next + fresh.length > IDENTITY_NUMBER_LIMIT) {
      throw new EnforceError('NUMBERS_EXHAUSTED',
        `every identity number below 2^31 has been handed out (${this.path}); ${fresh.length} more asked for`, { file: this.path });
    }
    const first = this.next;
    const numbers = fresh.map((_, i) => first + i);
    const byId = new Map(this.byId);
    fresh.forEach((id, i) => byId.set(id.toString(), first + i));
    this.next = first + fresh.length;
    this.write(Object.fromEntries(byId));
    fresh.forEach((id, i) => {
      this.byId.set(id.toString(), first + i);
      this.byNumber.set(first + i, id);
    });
    return numbers;
  }

  /** Atomic replace: temp file with the final mode, fsync, rename over, fsync the directory. */
  private write(numbers: Record<string, number>): void {
    const bytes = Buffer.from(`${JSON.stringify({ version: 1, next: this.next, numbers }, null, 2)}\n`);
    const temp = `${this.path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const fd = openSync(temp, 'wx', FILE_MODE);
      try {
        fchmodSync(fd, FILE_MODE);
        let written = 0;
        while (written < bytes.length) written += writeSync(fd, bytes, written);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, this.path);
      syncDirectory(dirname(this.path));
      this.writes++;
    } catch (err) {
      try {
        unlinkSync(temp);
      } catch {
        // never created, or already renamed
      }
      throw new EnforceError('IDENTITY_NUMBERS', `cannot write ${this.path}`, { cause: err, file: this.path });
    }
  }

  private unreachable(): never {
    throw new Error('IdentityNumbers: an ID assigned a moment ago has no number');
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
