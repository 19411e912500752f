/**
 * bench/posture: the root-filesystem scan behind forbidExecutables/maxExecutables on a tree of
 * 10,000 files (a tenth executable, 100 per directory, three levels), first scan and cached, beside
 * `find <tree> -type f -perm -u+x | wc -l` timed in the same run. Page cache warm for both (one
 * untimed find first). The aim: the first scan at most 200 ms, a cached one close to nothing.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RootScans, scanRoot } from '../agent/attest/index.js';

const FILES = 10_000;
const PER_DIR = 100;
const RUNS = 5;

function makeTree(root: string): number {
  let executables = 0;
  for (let i = 0; i < FILES; i++) {
    const dir = join(root, `d${Math.floor(i / (PER_DIR * 10))}`, `e${Math.floor(i / PER_DIR) % 10}`);
    if (i % PER_DIR === 0) mkdirSync(dir, { recursive: true });
    const exec = i % 10 === 0;
    if (exec) executables += 1;
    writeFileSync(join(dir, `f${i}`), 'x', { mode: exec ? 0o755 : 0o644 });
  }
  return executables;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function findMs(root: string): { ms: number; count: number } {
  const t0 = performance.now();
  const out = execFileSync('sh', ['-c', `find '${root}' -type f -perm -u+x | wc -l`], { encoding: 'utf8' });
  return { ms: performance.now() - t0, count: Number(out.trim()) };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'tether-bench-posture-'));
  try {
    const expected = makeTree(root);
    findMs(root); // warm the dentry and inode caches for both sides
    const first: number[] = [];
    const cached: number[] = [];
    const baseline: number[] = [];
    let found = 0;
    for (let run = 0; run < RUNS; run++) {
      const scans = new RootScans();
      let t0 = performance.now();
      const scan = await scans.scan(`bench:${run}`, root);
      first.push(performance.now() - t0);
      t0 = performance.now();
      await scans.scan(`bench:${run}`, root);
      cached.push(performance.now() - t0);
      if (!scan.complete || scan.executables !== expected) throw new Error(`scan found ${scan.executables} of ${expected} (complete: ${scan.complete})`);
      const f = findMs(root);
      baseline.push(f.ms);
      found = f.count;
    }
    if (found !== expected) throw new Error(`find counted ${found}, expected ${expected}`);
    const unbounded = await scanRoot(root, { sliceMs: Number.POSITIVE_INFINITY });
    const fmt = (ms: number): string => ms.toFixed(ms < 1 ? 3 : 1);
    const f = median(first);
    const b = median(baseline);
    process.stdout.write([
      `### posture: root-filesystem scan (${FILES.toLocaleString('en')} files, ${expected} executable; median of ${RUNS}; Linux ${release()}, ${cpus()[0]?.model ?? '?'})`,
      '',
      '| measure | ms | vs find |',
      '|---|---|---|',
      `| first scan (RootScans, 10 ms slices between event-loop turns) | ${fmt(f)} | ${(f / b).toFixed(2)}x |`,
      `| first scan, one slice (no yielding) | ${fmt(unbounded.elapsedMs)} | ${(unbounded.elapsedMs / b).toFixed(2)}x |`,
      `| cached scan (same mount namespace and root inode) | ${fmt(median(cached))} | ${(median(cached) / b).toFixed(4)}x |`,
      `| baseline: \`find <tree> -type f -perm -u+x \\| wc -l\` (process included) | ${fmt(b)} | 1x |`,
      '',
      `Aim: first scan ≤ 200 ms: ${f <= 200 ? 'met' : 'NOT met'}.`,
      '',
    ].join('\n'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
