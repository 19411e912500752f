/**
 * The one place that loads the native addon, lazily: CLI commands that only talk to a running
 * agent never load it. A failure names every path tried.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as NativeAddon from '../../native/index.js';
import { KernelError } from './errors.js';
import { packageRoot } from './paths.js';

export type Native = typeof NativeAddon;
export type { NativeError, ObjectHandle, LinkHandle, LinkInfo, RingHandle, MapInfo, ProgramInfo } from '../../native/index.js';

let loaded: Native | undefined;

export function native(): Native {
  if (loaded) return loaded;
  const root = packageRoot();
  const tried = [
    process.env.TETHER_NATIVE,
    join(root, 'build', 'native', 'tether_native.node'),
    join(root, 'native', 'build', 'Release', 'tether_native.node'),
  ].filter((p): p is string => p !== undefined && p !== '');
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const path of tried) {
    try {
      loaded = require(path) as Native;
      return loaded;
    } catch (err) {
      errors.push(`${path}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  throw new KernelError('NATIVE_LOAD', `cannot load the native addon (run 'make build'); tried:\n  ${errors.join('\n  ')}`);
}
