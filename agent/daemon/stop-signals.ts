import { readFileSync } from 'node:fs';
import { parseStat } from '../attest/index.js';
import type { Logger } from '../telemetry/index.js';

/** How often the parent is looked at (getppid) when the agent exits with it. */
const PARENT_POLL_MS = 250;

export interface StopSignalOptions {
  readonly log: Logger;
  /** SIGHUP: reload what can be reloaded. */
  readonly onHangup: () => void;
  /**
   * Stop when what started the agent is gone (its parent, grandparent or great-grandparent exited). A wrapper
   * killed without passing the signal on (npx, a script) must not leave an agent behind holding
   * the sockets; under systemd (parent pid 1) or as a container's pid 1 this never fires.
   */
  readonly exitWithParent: boolean;
  /** Who started the agent, taken when it started (`startedBy()`): one that died during the
   * start is seen at once. */
  readonly startedBy: readonly Ancestor[];
}

/** A process by pid and start time (a pid alone may be reused). */
export interface Ancestor {
  readonly pid: number;
  readonly startTicks: bigint;
}

/** Parent, grandparent and great-grandparent: `npx` runs the agent under `sh -c`, and a script
 * that starts npx through a function or `nsenter` in the background (`f npx ... &`) holds the pid
 * of a subshell one level further up; killing that subshell orphans npx, so it counts too. */
const WATCHED_ANCESTORS = 3;

/**
 * The agent's nearest ancestors (init and pid 0 excluded): a wrapper killed without passing the
 * signal on leaves the processes below it alive, the agent's parent among them, so the levels
 * above count too. Read once at start.
 */
export function startedBy(): Ancestor[] {
  const out: Ancestor[] = [];
  let pid = process.ppid;
  for (let depth = 0; depth < WATCHED_ANCESTORS && pid > 1; depth++) {
    const stat = readStat(pid);
    if (stat === undefined) break;
    out.push({ pid, startTicks: stat.startTicks });
    pid = stat.ppid;
  }
  return out;
}

function readStat(pid: number): { ppid: number; startTicks: bigint } | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // gone
  }
}

function alive(a: Ancestor): boolean {
  return readStat(a.pid)?.startTicks === a.startTicks;
}

/**
 * Resolves when the agent should stop: SIGTERM, SIGINT, or (exitWithParent) its parent's exit.
 * Signals are handled only here; SIGHUP calls onHangup.
 */
export function untilStopSignal(o: StopSignalOptions): Promise<void> {
  const hangup = (): void => { o.log.info({ component: 'daemon' }, 'SIGHUP: reloading config, entries and policy'); o.onHangup(); };
  process.on('SIGHUP', hangup);
  return new Promise((done) => {
    let timer: NodeJS.Timeout | undefined;
    const stop = (why: NodeJS.Signals | 'parent exited'): void => {
      o.log.info({ component: 'daemon', signal: why }, 'stopping');
      process.off('SIGHUP', hangup);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      clearInterval(timer);
      done();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (o.exitWithParent && o.startedBy.length > 0) {
      const check = (): void => { if (!o.startedBy.every(alive)) stop('parent exited'); };
      timer = setInterval(check, PARENT_POLL_MS);
      timer.unref();
      check();
    }
  });
}

/** A SIGHUP before the agent serves (a reload sent too early) would kill it by default: it is
 * logged and ignored until untilStopSignal takes over. Returns the release. */
export function ignoreHangupsWhileStarting(log: Logger): () => void {
  const early = (): void => { log.warn({ component: 'daemon' }, 'SIGHUP while starting: ignored (nothing to reload yet)'); };
  process.on('SIGHUP', early);
  return () => { process.off('SIGHUP', early); };
}
