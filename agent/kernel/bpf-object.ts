import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ObjectHandle, ProgramInfo, MapInfo } from './native.js';
import { native } from './native.js';
import { KernelError, nativeCall, type KernelErrorCode } from './errors.js';
import { BpfLink } from './bpf-link.js';
import { BpfMap } from './bpf-map.js';
import type { Codec } from './codec.js';

export interface BpfObjectOptions {
  /** pin_root_path for maps declared LIBBPF_PIN_BY_NAME. */
  readonly pinRoot?: string;
  /** max_entries to set before load, by map name (ring buffer sizes, table capacities). */
  readonly maxEntries?: Readonly<Record<string, number>>;
  /** initial contents of global-data maps (".rodata.config" settings), by map name. */
  readonly initialValues?: Readonly<Record<string, Buffer>>;
  /** programs not to load (a feature this kernel refuses, found by probing). */
  readonly skipPrograms?: readonly string[];
}

/** One loaded BPF object file: owns the bpf_object, its program and map fds, until close(). */
export class BpfObject {
  readonly path: string;
  readonly #handle: ObjectHandle;
  #open = true;

  private constructor(path: string, handle: ObjectHandle) {
    this.path = path;
    this.#handle = handle;
  }

  /** Open, configure and load; on any failure nothing stays open. */
  static load(path: string, options: BpfObjectOptions = {}): BpfObject {
    const n = native();
    const handle = nativeCall('BPF_OPEN', `open BPF object ${path}`,
      () => n.objectOpen(path, options.pinRoot === undefined ? {} : { pinRoot: options.pinRoot }));
    try {
      for (const [map, entries] of Object.entries(options.maxEntries ?? {})) {
        nativeCall('BPF_LOAD', `${path}: set max_entries of ${map}`, () => n.objectSetMapMaxEntries(handle, map, entries));
      }
      for (const [map, data] of Object.entries(options.initialValues ?? {})) {
        nativeCall('BPF_LOAD', `${path}: set ${map}`, () => n.objectSetInitialValue(handle, map, data));
      }
      for (const prog of options.skipPrograms ?? []) {
        nativeCall('BPF_LOAD', `${path}: skip ${prog}`, () => n.objectSetAutoload(handle, prog, false));
      }
      nativeCall('BPF_LOAD', `load BPF object ${path}`, () => n.objectLoad(handle));
    } catch (err) {
      n.objectClose(handle);
      throw err;
    }
    return new BpfObject(path, handle);
  }

  programs(): ProgramInfo[] {
    return this.#call('list programs', () => native().objectPrograms(this.#handle));
  }

  /** Each map, with where it is pinned (maps pinned by name), null when not pinned. */
  maps(): Array<MapInfo & { readonly pinPath: string | null }> {
    return this.#call('list maps', () => native().objectMaps(this.#handle));
  }

  /** A typed view of one of this object's maps; it borrows the object's fd. */
  map<K, V>(name: string, key: Codec<K>, value: Codec<V>): BpfMap<K, V> {
    const fd = this.mapFd(name);
    return new BpfMap({ fd, name, key, value, owned: false });
  }

  mapFd(name: string): number {
    return this.#call(`map ${name}`, () => native().objectMapFd(this.#handle, name), 'MAP');
  }

  /** Pins again each map pinned by name whose pin is gone (removed behind our back, or the whole
   * pin dir by `tether uninstall`); returns the paths pinned. */
  repinMaps(): string[] {
    const pinned: string[] = [];
    for (const m of this.maps()) {
      if (m.pinPath === null || existsSync(m.pinPath)) continue;
      mkdirSync(dirname(m.pinPath), { recursive: true });
      const fd = this.mapFd(m.name);
      nativeCall('MAP', `${this.path}: pin map ${m.name} at ${m.pinPath}`, () => native().objPin(fd, m.pinPath as string));
      pinned.push(m.pinPath);
    }
    return pinned;
  }

  /** Attach by section (tp_btf/, raw_tp/ ...). */
  attach(program: string): BpfLink {
    const h = this.#call(`attach ${program}`, () => native().attachAuto(this.#handle, program), 'ATTACH');
    return new BpfLink(h, `${program} (${this.path})`);
  }

  /** Link-based attach of a cgroup program (sock_addr, sock, skb, sockops) to a cgroup v2 directory. */
  attachCgroup(program: string, cgroupDir: string): BpfLink {
    const h = this.#call(`attach ${program} to cgroup ${cgroupDir}`,
      () => native().attachCgroup(this.#handle, program, cgroupDir), 'ATTACH');
    return new BpfLink(h, `${program} on ${cgroupDir}`);
  }

  /** Closes program and map fds; attached links keep their programs alive. Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    native().objectClose(this.#handle);
  }

  #call<T>(what: string, fn: () => T, code: KernelErrorCode = 'BPF_LOAD'): T {
    if (!this.#open) throw new KernelError('CLOSED', `BPF object ${this.path}: ${what} after close`);
    return nativeCall(code, `${this.path}: ${what}`, fn);
  }
}
