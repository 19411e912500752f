/**
 * The steps of a long operation (`tether ca rotate`), for a person watching: shown only when
 * stdout is a terminal, and on stderr, so a script reading stdout (or a pipe) never sees them.
 */
export function progress(
  out: { write(text: string): unknown } = process.stderr, terminal: boolean = process.stdout.isTTY === true,
): (step: string) => void {
  if (!terminal) return () => {};
  return (step) => { out.write(`tether: ${step}...\n`); };
}
