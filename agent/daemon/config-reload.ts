import type { Logger, LogLevel } from '../telemetry/index.js';
import type { Config } from './config.js';

/**
 * SIGHUP's config step: the file (and env, flags) read again and checked whole. What can change
 * live does (logLevel); every other changed key is named as waiting for a restart, never applied
 * half. A bad config is logged with its key and reason, and the running one stays.
 */
export function applyConfigReload(current: Config, reload: () => Config, log: Logger): void {
  let next: Config;
  try {
    next = reload();
  } catch (err) {
    log.error({ component: 'daemon', err: (err as Error).message }, 'SIGHUP: config refused; the running config stays');
    return;
  }
  if (next.logLevel !== log.level) {
    log.level = next.logLevel as LogLevel;
    log.info({ component: 'daemon', logLevel: next.logLevel }, 'SIGHUP: log level changed');
  }
  const restart = changedKeys(current, next).filter((k) => k !== 'logLevel');
  if (restart.length > 0) log.warn({ component: 'daemon', keys: restart }, 'SIGHUP: these config keys changed and take effect at the next restart');
}

/** Dotted keys whose values differ (one level of nesting: ca.*, enforce.*). */
export function changedKeys(a: Config, b: Config): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof Config>;
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (isMapping(x) || isMapping(y)) {
      const inner = new Set([...Object.keys(x ?? {}), ...Object.keys(y ?? {})]);
      for (const i of inner) {
        if (JSON.stringify((x as Record<string, unknown> | undefined)?.[i]) !== JSON.stringify((y as Record<string, unknown> | undefined)?.[i])) out.push(`${k}.${i}`);
      }
    } else if (JSON.stringify(x) !== JSON.stringify(y)) {
      out.push(k);
    }
  }
  return out.sort();
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
