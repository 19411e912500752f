/**
 * Container ID and Kubernetes pod UID from a cgroup path, by the names the runtimes
 * and the kubelet give their cgroups. Pure: the path comes from /proc/<pid>/cgroup.
 *
 * A name is a claim, not a proof: anyone who may mkdir in a cgroup (a delegated user
 * subtree) can name a directory "docker-<id>.scope". The result says which container
 * to ask the runtime about; it never stands for the container's identity alone.
 */

export interface CgroupContainer {
  /** 64 lower-case hex, as every runtime here names its containers; null outside one. */
  containerId: string | null;
  /** The pod's UID with dashes, as the API server spells it; null outside a pod. */
  podUid: string | null;
}

const ID = '[0-9a-f]{64}';
// An RFC 4122 UID as kubelet writes it: dashes (cgroupfs) or underscores (systemd,
// where '-' means "child slice"). Static pods' UIDs are a 32-hex manifest hash.
const UID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}';

// cgroupfs driver (v1 and v2): the runtime names the directory by the bare ID
// (/docker/<id>, /kubepods/burstable/pod<uid>/<id>).
const BARE_ID = new RegExp(`^(${ID})$`);
// systemd driver: a transient scope "<runtime>-<id>.scope". The conmon scopes of
// cri-o and podman ("crio-conmon-<id>.scope") hold the monitor, not the container,
// and do not match because "conmon-<id>" is not an ID.
const SCOPE_ID = new RegExp(`^(?:docker|cri-containerd|crio|libpod|containerd|nerdctl)-(${ID})\\.scope$`);
// containerd's systemd form as some hosts print it: "<slice>:cri-containerd:<id>".
const COLON_ID = new RegExp(`^(.+\\.slice):(?:cri-containerd|docker|crio):(${ID})$`);

// systemd driver: a slice name spells its whole ancestry ("kubepods-burstable-pod<uid>.slice"
// lives in kubepods.slice/kubepods-burstable.slice), so it carries its kubepods anchor;
// kind and similar prefix it ("kubelet-kubepods-...").
const SYSTEMD_POD = new RegExp(`^(?:[a-z0-9]+-)*kubepods(?:-[a-z]+)?-pod(${UID})\\.slice$`);
// cgroupfs driver: "pod<uid>" under a "kubepods" directory.
const CGROUPFS_POD = new RegExp(`^pod(${UID})$`);

interface Match {
  kind: 'container' | 'pod';
  value: string;
}

function podMatch(segment: string, underKubepods: boolean): Match | null {
  const uid = SYSTEMD_POD.exec(segment)?.[1] ?? (underKubepods ? CGROUPFS_POD.exec(segment)?.[1] : undefined);
  return uid === undefined ? null : { kind: 'pod', value: uid.replaceAll('_', '-') };
}

function containerMatch(segment: string): string | null {
  return BARE_ID.exec(segment)?.[1] ?? SCOPE_ID.exec(segment)?.[1] ?? null;
}

// Every container or pod name in the path, outermost first.
function matches(path: string): Match[] {
  const segments = path.split('/').filter((s) => s !== '');
  // A path that starts with ".." was printed from inside a cgroup namespace: the
  // kubepods ancestors are above what we can see, so "pod<uid>" is trusted as is.
  let underKubepods = segments[0] === '..';
  const found: Match[] = [];
  for (const segment of segments) {
    const colon = COLON_ID.exec(segment);
    const name = colon?.[1] ?? segment;
    const pod = podMatch(name, underKubepods);
    if (pod !== null) found.push(pod);
    const id = colon?.[2] ?? containerMatch(name);
    if (id !== null) found.push({ kind: 'container', value: id });
    if (name === 'kubepods' || name.endsWith('kubepods.slice')) underKubepods = true;
  }
  return found;
}

/**
 * The innermost container in the path (containers nest: kind nodes, Docker in
 * Docker) and the pod that encloses it; with no container, the innermost pod.
 */
export function parseCgroupPath(path: string): CgroupContainer {
  const found = matches(path);
  const last = found.findLastIndex((m) => m.kind === 'container');
  const enclosing = last < 0 ? found : found.slice(0, last);
  return {
    containerId: last < 0 ? null : (found[last]?.value ?? null),
    podUid: enclosing.findLast((m) => m.kind === 'pod')?.value ?? null,
  };
}
