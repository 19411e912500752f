import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { packageRoot } from '../../agent/kernel/index.js';

export interface FreshProto {
  /** What `make proto` writes for agent/workload/gen/ and agent/admin/gen/, here in a temp dir. */
  readonly workload: string;
  readonly admin: string;
  remove(): void;
}

/** Runs `make proto` into a temp dir: both outputs redirected, so the committed gen/ dirs are
 * never touched (the target regenerates every .proto it knows at once). */
export function makeProto(): FreshProto {
  const root = packageRoot();
  const out = mkdtempSync(join(tmpdir(), 'tether-proto-'));
  const workload = join(out, 'workload');
  const admin = join(out, 'admin');
  execFileSync('make', ['-s', '-C', root, 'proto', `PROTO_OUT=${relative(root, workload)}`, `ADMIN_PROTO_OUT=${relative(root, admin)}`], { stdio: 'pipe' });
  return { workload, admin, remove: () => rmSync(out, { recursive: true, force: true }) };
}

/** Every .ts file below `dir`, by relative path, with its text. */
export function tsFiles(dir: string): Map<string, string> {
  const paths = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).sort();
  return new Map(paths.map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}
