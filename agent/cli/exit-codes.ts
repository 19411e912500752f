/** The CLI's exit codes: 0 done, 1 failed, 2 bad usage (one line, no stack). */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Thrown by a command for a usage error it finds itself (commander reports its own). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** One line for the operator: the error's message, its code when it has one, no stack. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}

/** A command that has printed its verdict and wants exit 1 without another message (e.g. an
 * invalid ID among several checked). */
export class ReportedFailure extends Error {
  override readonly name = 'ReportedFailure';
}
