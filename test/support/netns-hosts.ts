import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

/** One of the two hosts: a network namespace with loopback up and one end of the veth pair. */
export interface NetnsHost {
  /** The namespace's name under /run/netns (`ip netns`). */
  readonly name: string;
  /** Its end of the veth pair. */
  readonly veth: string;
  /** Its address on the pair's /24. */
  readonly address: string;
}

export interface RunOptions {
  /** Moved into this cgroup v2 directory (a TestCgroup's path) before entering the namespace:
   * the socket hooks are per cgroup, not per namespace. */
  readonly cgroup?: string;
  readonly stdio?: 'ignore' | 'pipe';
}

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * The project's two test hosts: network namespaces tether-a-<pid> and tether-b-<pid> joined by a
 * veth pair on 10.231.<n>.0/24 (A .1, B .2), loopback up in each. Namespaces see only their own
 * routes, so the subnet cannot clash with this machine's; n varies by pid only for readable
 * captures. destroy() kills what run() started and removes both namespaces (the veth pair goes
 * with them), whatever failed before.
 */
export class NetnsHosts {
  readonly a: NetnsHost;
  readonly b: NetnsHost;
  readonly #children = new Set<ChildProcess>();

  private constructor(a: NetnsHost, b: NetnsHost) {
    this.a = a;
    this.b = b;
  }

  static create(tag = String(process.pid)): NetnsHosts {
    const net = `10.231.${Number(tag.replace(/\D/g, '') || 0) % 250}`;
    const hosts = new NetnsHosts(
      { name: `tether-a-${tag}`, veth: `ta${tag}`.slice(0, 15), address: `${net}.1` },
      { name: `tether-b-${tag}`, veth: `tb${tag}`.slice(0, 15), address: `${net}.2` },
    );
    try {
      const { a, b } = hosts;
      ip('netns', 'add', a.name);
      ip('netns', 'add', b.name);
      ip('link', 'add', a.veth, 'netns', a.name, 'type', 'veth', 'peer', 'name', b.veth, 'netns', b.name);
      for (const h of [a, b]) {
        ip('-n', h.name, 'link', 'set', 'lo', 'up');
        ip('-n', h.name, 'addr', 'add', `${h.address}/24`, 'dev', h.veth);
        ip('-n', h.name, 'link', 'set', h.veth, 'up');
      }
      return hosts;
    } catch (err) {
      hosts.destroy();
      throw err;
    }
  }

  /**
   * Starts `argv` inside `host`'s network namespace (nsenter --net: unlike `ip netns exec` it
   * leaves /sys, and so the cgroup mount, as they are). With `cgroup`, the process moves itself
   * there first; either way the program keeps the spawned pid.
   */
  run(host: NetnsHost, argv: readonly string[], options: RunOptions = {}): ChildProcess {
    const enter = ['nsenter', `--net=/run/netns/${host.name}`, '--', ...argv];
    const child = options.cgroup === undefined
      ? spawn(enter[0] as string, enter.slice(1), { stdio: options.stdio ?? 'pipe' })
      : spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', options.cgroup, ...enter], { stdio: options.stdio ?? 'pipe' });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Runs `argv` in `host` to its end: exit code and output. */
  exec(host: NetnsHost, argv: readonly string[], options: Omit<RunOptions, 'stdio'> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = this.run(host, argv, { ...options, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** Kills what run() started, then deletes both namespaces; throws once, after trying everything. */
  destroy(): void {
    for (const child of this.#children) child.kill('SIGKILL');
    const failures: string[] = [];
    for (const h of [this.a, this.b]) {
      // A namespace whose processes are still exiting is unmounted now and freed when they are gone.
      try { ip('netns', 'del', h.name); } catch (err) {
        if (ip('netns', 'list').split('\n').some((l) => l.split(' ')[0] === h.name)) failures.push(`${h.name}: ${String(err)}`);
      }
    }
    if (failures.length > 0) throw new Error(`cannot remove test namespaces: ${failures.join('; ')}`);
  }
}
