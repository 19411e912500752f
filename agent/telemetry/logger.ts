import { pino, type Logger } from 'pino';

export type { Logger };
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * pino JSON lines on stderr (stdout is the CLI's). Each folder logs through a child with
 * `{ component }`; shared field names: tgid, spiffeId, code. Keys and tokens are never logged.
 */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { service: 'tether' } }, pino.destination({ fd: 2, sync: true }));
}
