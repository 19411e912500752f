import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest directory above this file with a package.json (works from
 * agent/ sources under vitest and from build/agent/ when compiled). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

/** A compiled BPF object of bpf/<name>.bpf.c, as `make build` writes it. */
export function bpfObjectPath(name: string): string {
  return join(process.env.TETHER_BPF_DIR ?? join(packageRoot(), 'build', 'bpf'), `${name}.bpf.o`);
}
