import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrustDomain } from '../spiffe/index.js';
import type { CaState, NewSlot } from './authority.js';
import { CaError, type CaErrorCode } from './errors.js';
import { encodeManifest, manifestOf, parseManifest } from './manifest.js';
import { loadJwtKey, loadX509Authority, removeSlotFiles, slotFileNames, writeSlotFiles } from './slot-files.js';
import { isErrno, readStateFile, syncDirectory, writeStateFile, writeStateFileSync } from './state-files.js';

export interface LoadedCaState {
  readonly state: CaState;
  /** The trust domain the manifest names. */
  readonly trustDomain: string;
  /** Oddities that do not stop the load (leftover files, a loose directory mode), for the log. */
  readonly warnings: readonly string[];
}

const UNUSABLE: ReadonlySet<CaErrorCode> = new Set(['CORRUPT_STATE', 'UNSUPPORTED_STATE', 'TRUST_DOMAIN_MISMATCH']);
const MANIFEST = 'manifest.json';

/**
 * The CA directory, `<stateDir>/ca/` (0700): `manifest.json` (0600; which slots exist, in which
 * state) and each slot's files (slot-files.ts), all state files (state-files.ts). New slot files
 * are written before the manifest that names them, and removed only after the manifest stops
 * naming them: the manifest is the commit point, so a crash anywhere leaves the last commit whole.
 */
export class CaStore {
  readonly stateDir: string;
  readonly dir: string;

  constructor(stateDir: string) {
    this.stateDir = stateDir;
    this.dir = join(stateDir, 'ca');
  }

  /**
   * The committed state, or undefined when there is none yet (no `ca/`, or an empty one). State
   * that cannot be used as it is throws, with the operator's next step added to the message.
   * Without a trust domain, the manifest's is taken (read-only inspection).
   */
  async load(trustDomain?: TrustDomain): Promise<LoadedCaState | undefined> {
    try {
      return await this.#load(trustDomain);
    } catch (err) {
      if (!(err instanceof CaError) || !UNUSABLE.has(err.code)) throw err;
      const advice = `Nothing was changed. Restore the file from a backup, or move ${this.dir} aside to create a new CA`
        + ' (every workload then needs the new bundle).';
      throw new CaError(err.code, `${err.message}. ${advice}`, { cause: err, ...(err.path === undefined ? {} : { path: err.path }) });
    }
  }

  /** The first state: built in a fresh directory beside `ca/`, then renamed into place, so `ca/` appears whole or not at all. */
  async create(trustDomain: TrustDomain, state: CaState): Promise<void> {
    const temp = `${this.dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await mkdir(this.stateDir, { recursive: true, mode: 0o711 });
      await mkdir(temp, { mode: 0o700 });
      await chmod(temp, 0o700);
      for (const x509 of state.x509) await writeSlotFiles(temp, { x509 });
      for (const jwt of state.jwt) await writeSlotFiles(temp, { jwt });
      await writeStateFile(join(temp, MANIFEST), encodeManifest(manifestOf(trustDomain.name, state)), { kind: 'manifest', mode: 0o600 });
      await rename(temp, this.dir); // replaces an empty ca/, fails on a non-empty one
      await syncDirectory(this.stateDir);
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      if (err instanceof CaError) throw err;
      throw new CaError('STATE_IO', `cannot create the CA state in ${this.dir}`, { cause: err, path: this.dir });
    }
  }

  /** A new slot's files, before any manifest names them. */
  async writeSlot(slot: NewSlot): Promise<void> {
    await writeSlotFiles(this.dir, slot);
  }

  /** The commit point. Synchronous, so that no mint runs between computing a state and persisting it. */
  commit(trustDomain: TrustDomain, state: CaState): void {
    const manifest = encodeManifest(manifestOf(trustDomain.name, state));
    writeStateFileSync(join(this.dir, MANIFEST), manifest, { kind: 'manifest', mode: 0o600 });
  }

  /** A slot's files, once no committed manifest names it. */
  async removeSlot(kind: 'x509' | 'jwt', id: string): Promise<void> {
    await removeSlotFiles(this.dir, kind, id);
  }

  async #load(trustDomain: TrustDomain | undefined): Promise<LoadedCaState | undefined> {
    const names = await this.#list();
    if (names === undefined) return undefined;
    const manifestPath = join(this.dir, MANIFEST);
    const payload = await readStateFile(manifestPath, 'manifest');
    if (payload === undefined) {
      if (names.length === 0) return undefined;
      throw new CaError('CORRUPT_STATE', `${this.dir} holds ${names.length} files but no ${MANIFEST}, so it is not ours to overwrite`,
        { path: manifestPath });
    }
    const manifest = parseManifest(manifestPath, payload);
    if (trustDomain !== undefined && manifest.trustDomain !== trustDomain.name) {
      throw new CaError('TRUST_DOMAIN_MISMATCH',
        `${this.dir} holds the CA of trust domain "${manifest.trustDomain}", not of "${trustDomain.name}"`, { path: manifestPath });
    }
    const x509 = await Promise.all(manifest.x509.map((entry) => loadX509Authority(this.dir, entry)));
    const jwt = await Promise.all(manifest.jwt.map((entry) => loadJwtKey(this.dir, entry)));
    const known = new Set([
      MANIFEST,
      ...x509.flatMap((a) => slotFileNames('x509', a.id, a.intermediate !== undefined, a.upstream)),
      ...jwt.flatMap((k) => slotFileNames('jwt', k.id, false)),
    ]);
    const warnings = names.filter((n) => !known.has(n))
      .map((n) => `${join(this.dir, n)} is not named by the manifest (left by an interrupted write); ignored`);
    const mode = (await stat(this.dir)).mode & 0o777;
    if ((mode & 0o077) !== 0) warnings.push(`${this.dir} has mode ${mode.toString(8)}; it should be 700`);
    return { state: { x509, jwt }, trustDomain: manifest.trustDomain, warnings };
  }

  async #list(): Promise<string[] | undefined> {
    try {
      return await readdir(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw new CaError('STATE_IO', `cannot read ${this.dir}`, { cause: err, path: this.dir });
    }
  }
}
