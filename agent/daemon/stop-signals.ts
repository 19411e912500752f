import type { Logger } from '../telemetry/index.js';

/** How often the parent is looked at (getppid) when the agent exits with it. */
const PARENT_POLL_MS = 250;

export interface StopSignalOptions {
  readonly log: Logger;
  /** SIGHUP: reload what can be reloaded. */
  readonly onHangup: () => void;
  /**
   * Stop when the process that started the agent is gone (it was reparented). A wrapper killed
   * without passing the signal on (npx, a script) must not leave an agent behind holding the
   * sockets; under systemd (parent pid 1) or as a container's pid 1 this never fires.
   */
  readonly exitWithParent: boolean;
  /** The parent when the agent started (process.ppid then): a parent that died during the start
   * is seen at once. */
  readonly parentAtStart: number;
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
    const parent = o.parentAtStart;
    if (o.exitWithParent && parent > 1) {
      const check = (): void => { if (process.ppid !== parent) stop('parent exited'); };
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
