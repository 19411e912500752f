import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { TrustDomain } from '../spiffe/index.js';
import { EnforceError } from './errors.js';
import { parsePolicy, type Policy } from './policy-file.js';

export interface PolicyLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The policy file, watched: a change is read after a short quiet time and, if it parses, handed
 * to the listeners whole; a bad file is logged with its lines and the last good policy stays.
 */
export class PolicyStore {
  readonly #path: string;
  readonly #trustDomain: TrustDomain;
  readonly #log: PolicyLog;
  readonly #listeners = new Set<(p: Policy) => void>();
  #policy: Policy | undefined;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: { path: string; trustDomain: TrustDomain; log: PolicyLog }) {
    this.#path = options.path;
    this.#trustDomain = options.trustDomain;
    this.#log = options.log;
  }

  /** Reads the file (a bad or missing one refuses the start), then watches its directory. */
  start(): Policy {
    this.#policy = this.#read();
    this.#watcher = watch(dirname(this.#path), (_event, name) => {
      // A Kubernetes ConfigMap volume swaps its "..data" symlink rather than touching the file.
      if (name !== null && name !== basename(this.#path) && name !== '..data') return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.reload(), 100);
    });
    return this.#policy;
  }

  current(): Policy | undefined {
    return this.#policy;
  }

  onChange(listener: (p: Policy) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  reload(): { ok: true; policy: Policy } | { ok: false; error: EnforceError } {
    try {
      const policy = this.#read();
      this.#policy = policy;
      this.#log.info({ file: this.#path, rules: policy.rules.length, mode: policy.mode }, 'policy reloaded');
      for (const l of this.#listeners) l(policy);
      return { ok: true, policy };
    } catch (err) {
      const error = err instanceof EnforceError ? err : new EnforceError('BAD_POLICY', `${this.#path}: ${(err as Error).message}`, { cause: err });
      this.#log.error({ file: this.#path, err: error.message }, 'policy refused; the last good policy stays in force');
      return { ok: false, error };
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
  }

  #read(): Policy {
    let text: string;
    try {
      text = readFileSync(this.#path, 'utf8');
    } catch (err) {
      throw new EnforceError('BAD_POLICY', `cannot read the policy file ${this.#path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    return parsePolicy(text, this.#path, this.#trustDomain);
  }
}
