import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { TrustDomain } from '../spiffe/index.js';
import { parseEntriesFile } from './entries-file.js';
import { sameEntries, type Entry } from './entry.js';
import { RegistryError } from './errors.js';

/** The two log levels the store uses; a pino child logger fits. */
export interface RegistryLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface FileEntryStoreOptions {
  readonly path: string;
  /** Entries for another trust domain are refused: this agent could not mint them. */
  readonly trustDomain: TrustDomain;
  readonly log?: RegistryLog;
  /** Quiet time after the last change event before the file is read; default 100 ms. */
  readonly debounceMs?: number;
  /** Reload when the file changes; default true. reload() works either way (SIGHUP). */
  readonly watch?: boolean;
}

export type ReloadResult =
  | { readonly ok: true; readonly entries: readonly Entry[] }
  | { readonly ok: false; readonly error: RegistryError };

/** Reads and parses the entries file; RegistryError NO_ENTRIES_FILE, UNREADABLE_ENTRIES_FILE or BAD_ENTRIES. */
export async function readEntriesFile(path: string, trustDomain?: TrustDomain): Promise<Entry[]> {
  return parseEntriesFile(await readText(path), path, trustDomain);
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RegistryError('NO_ENTRIES_FILE', `no entries file at ${path}`, { file: path, cause: err });
    }
    throw new RegistryError('UNREADABLE_ENTRIES_FILE', `cannot read entries file ${path}: ${(err as Error).message}`, { file: path, cause: err });
  }
}

/**
 * The entries of one YAML file, reloaded when it changes. A file that fails to read or validate
 * is logged with its line and reason and leaves the last good set serving; listeners hear only of
 * real changes. At start, a missing file is an empty set; an unreadable or bad one is refused.
 */
export class FileEntryStore {
  readonly #path: string;
  readonly #trustDomain: TrustDomain;
  readonly #log: RegistryLog | undefined;
  readonly #debounceMs: number;
  readonly #watch: boolean;
  readonly #listeners = new Set<(entries: readonly Entry[]) => void>();
  #entries: readonly Entry[] = [];
  #lastError: RegistryError | undefined;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: FileEntryStoreOptions) {
    this.#path = options.path;
    this.#trustDomain = options.trustDomain;
    this.#log = options.log;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#watch = options.watch ?? true;
  }

  /** First load, then the watch. Throws RegistryError when the file is there but unusable. */
  async start(): Promise<void> {
    // Watch first: a change made while the first read runs then still triggers a reload.
    if (this.#watch) this.#startWatch();
    try {
      await this.#enqueue(() => this.#firstLoad());
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  current(): readonly Entry[] {
    return this.#entries;
  }

  /** Why the file on disk is not what is served, or undefined when it is. */
  lastError(): RegistryError | undefined {
    return this.#lastError;
  }

  /** Called with the new set after a reload that changed it; returns the unsubscribe. */
  onChange(listener: (entries: readonly Entry[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reads the file now (what SIGHUP calls). Reloads run one at a time, in order. */
  reload(): Promise<ReloadResult> {
    return this.#enqueue(() => this.#load());
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #enqueue<T>(step: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(step);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #firstLoad(): Promise<void> {
    try {
      this.#entries = await readEntriesFile(this.#path, this.#trustDomain);
    } catch (err) {
      if (!(err instanceof RegistryError) || err.code !== 'NO_ENTRIES_FILE') throw err;
      this.#log?.info({ file: this.#path }, 'no entries file: no workload has an identity until it is written');
      return;
    }
    this.#log?.info({ file: this.#path, entries: this.#entries.length }, 'entries loaded');
  }

  async #load(): Promise<ReloadResult> {
    let entries: Entry[];
    try {
      entries = await readEntriesFile(this.#path, this.#trustDomain);
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      this.#lastError = err;
      // A missing file keeps the last set too: an editor may be between unlink and write, and
      // revoking every identity takes an explicit `entries: []`.
      this.#log?.error({ file: this.#path, line: err.line, code: err.code, err: err.message },
        'entries file refused; the last good entries keep serving');
      return { ok: false, error: err };
    }
    this.#lastError = undefined;
    const changed = !sameEntries(this.#entries, entries);
    this.#entries = entries;
    if (changed) {
      this.#log?.info({ file: this.#path, entries: entries.length }, 'entries reloaded');
      this.#notify(entries);
    }
    return { ok: true, entries };
  }

  #notify(entries: readonly Entry[]): void {
    for (const listener of this.#listeners) {
      try {
        listener(entries);
      } catch (err) {
        this.#log?.error({ file: this.#path, err }, 'an entries listener threw');
      }
    }
  }

  /**
   * Watches the directory: editors and config tools replace the file by rename, which a watch on
   * the file itself would lose. Kubernetes ConfigMap volumes swap the "..data" symlink instead.
   */
  #startWatch(): void {
    const name = basename(this.#path);
    try {
      this.#watcher = watch(dirname(this.#path), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name || changed === '..data') this.#schedule();
      });
    } catch (err) {
      this.#log?.error({ file: this.#path, err: (err as Error).message }, 'cannot watch the entries file\'s directory; reload with SIGHUP');
      return;
    }
    this.#watcher.on('error', (err) => {
      this.#log?.error({ file: this.#path, err: err.message }, 'watch on the entries file\'s directory failed; reload with SIGHUP');
      this.#watcher?.close();
      this.#watcher = undefined;
    });
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // reload() never rejects for a bad file; anything else is a bug worth a log line
      this.reload().catch((err: unknown) => this.#log?.error({ file: this.#path, err }, 'entries reload failed'));
    }, this.#debounceMs);
  }
}
