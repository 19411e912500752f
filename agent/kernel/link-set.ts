import { existsSync, unlinkSync } from 'node:fs';
import { BpfLink } from './bpf-link.js';
import { KernelError } from './errors.js';

/** One program's link as the kernel has it now: ok, or why not. */
export interface LinkCheck {
  readonly program: string;
  readonly ok: boolean;
  readonly detail?: string;
}

interface Entry {
  readonly program: string;
  link: BpfLink;
  /** Where the link is pinned (a restarted agent adopts it from there); none: held by our fd only. */
  readonly pin: string | undefined;
}

/**
 * The links of one object's programs, each re-attachable by `attach` (the object stays loaded,
 * its maps with it). check() asks the kernel whether each is attached and still pinned where a
 * restarted agent would look; repair() attaches again what was detached behind our back and
 * pins again what lost its pin. Owns the links until destroy() or release().
 */
export class LinkSet {
  readonly #entries: Entry[] = [];
  readonly #attach: (program: string) => BpfLink;

  constructor(attach: (program: string) => BpfLink) {
    this.#attach = attach;
  }

  add(program: string, link: BpfLink, pin?: string): void {
    this.#entries.push({ program, link, pin });
  }

  check(): LinkCheck[] {
    return this.#entries.map((e) => {
      const detail = this.#problem(e);
      return detail === undefined ? { program: e.program, ok: true } : { program: e.program, ok: false, detail };
    });
  }

  /**
   * Attaches again each detached link (and pins the new one in place of the stale pin) and pins
   * again each attached link whose pin is gone or holds another link. Returns what it did, one line
   * each; throws a KernelError naming what it could not repair (after trying every link).
   */
  repair(): string[] {
    const done: string[] = [];
    const failed: string[] = [];
    for (const e of this.#entries) {
      try {
        const what = this.#repair(e);
        if (what !== undefined) done.push(`${e.program}: ${what}`);
      } catch (err) {
        failed.push(`${e.program}: ${(err as Error).message}`);
      }
    }
    if (failed.length > 0) {
      throw new KernelError('ATTACH', `not repaired: ${failed.join('; ')}${done.length > 0 ? ` (repaired: ${done.join('; ')})` : ''}`);
    }
    return done;
  }

  /** Closes our fds: unpinned links detach, pinned ones stay. */
  destroy(): void {
    for (const e of this.#entries) e.link.destroy();
  }

  /** Closes our fds and leaves pinned links attached. */
  release(): void {
    for (const e of this.#entries) e.link.release();
  }

  #problem(e: Entry): string | undefined {
    try {
      if (!e.link.attached()) return 'detached behind the agent\'s back';
      if (e.pin === undefined) return undefined;
      const pinned = pinnedLinkId(e.pin);
      if (pinned === undefined) return `attached, but its pin ${e.pin} is gone: it would detach when the agent stops`;
      if (pinned !== e.link.info().id) return `attached, but its pin ${e.pin} holds another link (id ${pinned})`;
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  #repair(e: Entry): string | undefined {
    if (!e.link.attached()) {
      const fresh = this.#attach(e.program); // first: the hook acts again before anything else
      e.link.destroy();
      e.link = fresh;
      if (e.pin === undefined) return 're-attached';
      if (existsSync(e.pin)) unlinkSync(e.pin); // the stale link: a restarted agent would adopt it
      fresh.pin(e.pin);
      return `re-attached, pinned at ${e.pin}`;
    }
    if (e.pin === undefined || pinnedLinkId(e.pin) === e.link.info().id) return undefined;
    if (existsSync(e.pin)) unlinkSync(e.pin);
    e.link.repin(e.pin);
    return `pinned again at ${e.pin}`;
  }
}

/** The id of the link pinned at `path`; undefined when nothing is pinned there. */
function pinnedLinkId(path: string): number | undefined {
  if (!existsSync(path)) return undefined;
  const link = BpfLink.openPinned(path);
  try {
    return link.info().id;
  } finally {
    link.destroy(); // closes the fd opened from the pin; detaches nothing
  }
}
