import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findCgroupV2Mount } from '../../agent/kernel/index.js';

/**
 * A child cgroup of the v2 mount for a test's workloads: never the v2 root, where every process
 * of this machine lives. destroy() kills what is left in it and removes it.
 */
export class TestCgroup {
  readonly path: string;
  /** Path below the mount, as /proc/<pid>/cgroup and tether show it. */
  readonly relPath: string;

  private constructor(path: string, relPath: string) {
    this.path = path;
    this.relPath = relPath;
  }

  static create(name: string): TestCgroup {
    const mount = findCgroupV2Mount();
    const rel = `/${name}-${process.pid}-${Date.now() % 100000}`;
    const path = join(mount, rel);
    mkdirSync(path);
    return new TestCgroup(path, rel);
  }

  /** The cgroup's id: the inode number of its directory. */
  get id(): bigint {
    return statSync(this.path, { bigint: true }).ino;
  }

  /** Starts `argv` inside this cgroup: a shell moves itself in, then execs the command. */
  spawn(argv: readonly string[], stdio: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
    return spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.path, ...argv], { stdio });
  }

  pids(): number[] {
    return readFileSync(join(this.path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  }

  async destroy(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const pids = this.pids();
      for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ } }
      try {
        rmdirSync(this.path);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`cannot remove test cgroup ${this.path}`);
  }
}
