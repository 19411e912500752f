import { mkdirSync, readFileSync, readdirSync, renameSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { SpiffeId, TrustDomain } from '../spiffe/index.js';
import { ProfileError } from './errors.js';
import { formatProfile, parseProfile, type Profile } from './profile-file.js';

export interface ProfileLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface ProfileStoreOptions {
  /** profiles.dir: one `<name>.yaml` per identity. */
  readonly dir: string;
  readonly trustDomain?: TrustDomain;
  readonly log?: ProfileLog;
  /** Changes on disk are read this long after the last one (editors write in steps); default 200 ms. */
  readonly debounceMs?: number;
}

/** The file name a new profile gets; the `id` inside is what counts, not the name. */
export function profileFileName(id: SpiffeId): string {
  return `${id.trustDomain.name}${id.path}`.replace(/[^A-Za-z0-9._-]/g, '_') + '.yaml';
}

/**
 * The profiles directory: every `*.yaml` in it parsed. A file with errors is refused whole and
 * the last good version of that file stays in force (logged with its lines); two files naming one
 * identity: the first by name wins, the other is refused. Writes are atomic (temp file, rename),
 * so a reader never sees half a profile. Changes on disk are picked up by a debounced watch.
 */
export class ProfileStore {
  readonly #o: ProfileStoreOptions;
  /** file name → its last good profile */
  readonly #byFile = new Map<string, Profile>();
  readonly #listeners = new Set<() => void>();
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ProfileStoreOptions) {
    this.#o = options;
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  }

  /** Reads every file again; returns the problems of the files refused (their last good kept). */
  load(): ProfileError[] {
    const problems: ProfileError[] = [];
    const names = readdirSync(this.#o.dir).filter((n) => n.endsWith('.yaml')).sort();
    const seen = new Map<string, string>();
    for (const name of [...this.#byFile.keys()]) if (!names.includes(name)) this.#byFile.delete(name);
    for (const name of names) {
      const path = join(this.#o.dir, name);
      try {
        const profile = parseProfile(readFileSync(path, 'utf8'), path, this.#o.trustDomain);
        const other = seen.get(profile.id.toString());
        if (other !== undefined) throw new ProfileError('BAD_PROFILE', `${path}:1:1: id: ${profile.id.toString()} already has a profile in ${other}`, { line: 1 });
        this.#byFile.set(name, profile);
      } catch (err) {
        const e = err instanceof ProfileError ? err : new ProfileError('PROFILE_IO', `${path}: ${(err as Error).message}`, { cause: err });
        problems.push(e);
        this.#o.log?.warn({ code: e.code, line: e.line, err: e.message }, 'profile refused; its last good version stays');
      }
      const kept = this.#byFile.get(name);
      if (kept !== undefined) seen.set(kept.id.toString(), name);
    }
    return problems;
  }

  get(id: SpiffeId | string): Profile | undefined {
    const key = id.toString();
    for (const p of this.#byFile.values()) if (p.id.toString() === key) return p;
    return undefined;
  }

  all(): Profile[] {
    return [...this.#byFile.values()];
  }

  /** Writes the profile to its file (atomically) and serves it at once. */
  save(profile: Profile): void {
    const key = profile.id.toString();
    const name = [...this.#byFile].find(([, p]) => p.id.toString() === key)?.[0] ?? profileFileName(profile.id);
    const path = join(this.#o.dir, name);
    try {
      writeFileSync(`${path}.tmp`, formatProfile(profile), { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    } catch (err) {
      throw new ProfileError('PROFILE_IO', `${path}: ${(err as Error).message}`, { cause: err });
    }
    this.#byFile.set(name, profile);
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Watches the directory: each settled change is loaded, then the listeners are told. */
  start(): void {
    this.#watcher = watch(this.#o.dir, () => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.load();
        for (const l of this.#listeners) l();
      }, this.#o.debounceMs ?? 200);
    });
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
  }
}
