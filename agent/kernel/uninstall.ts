import { existsSync, readdirSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BpfLink } from './bpf-link.js';
import { KernelError } from './errors.js';

/**
 * Removes everything pinned under `pinDir`: links are detached first (a pinned link keeps its
 * program attached until then), then every pin is unlinked and the directories removed.
 * Returns the paths removed. A missing pin dir is not an error: there is nothing to remove. A
 * running agent notices within its health interval and attaches and pins its programs again.
 */
export function uninstall(pinDir: string): string[] {
  if (!existsSync(pinDir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(pinDir)) {
    const path = join(pinDir, name);
    if (statSync(path).isDirectory()) {
      removed.push(...uninstall(path));
      continue;
    }
    try {
      const link = BpfLink.openPinned(path);
      try { link.detach(); } finally { link.destroy(); }
    } catch (err) {
      // Not a link (a map or program pin, EINVAL), or a tracepoint link, which cannot be detached
      // (EOPNOTSUPP) and goes with its last reference: unlinking the pin is all it takes.
      if (!(err instanceof KernelError && (err.errno === 'EINVAL' || err.errno === 'EOPNOTSUPP'))) throw err;
    }
    unlinkSync(path);
    removed.push(path);
  }
  rmdirSync(pinDir);
  return removed;
}
