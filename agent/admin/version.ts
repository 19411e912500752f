import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../kernel/index.js';

/**
 * Tether's version: package.json's, the one place it is written. `tether --version` prints it and
 * the agent answers it in Status, so an operator can tell when the CLI and the agent differ. Here
 * because admin/ is the folder both the CLI and the daemon import.
 */
export function tetherVersion(): string {
  if (cached === undefined) {
    const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
    if (typeof version !== 'string' || version === '') throw new Error(`${join(packageRoot(), 'package.json')} has no version`);
    cached = version;
  }
  return cached;
}

// The file does not change under a running process: read once.
let cached: string | undefined;
