/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Behaviour profiles in the kernel (agent/profile/): per identity, a mode (`profile_mode`) and the
 * executables its processes may exec (`profile_exes`, by file identity: a copied or renamed binary
 * is another file; a script is its interpreter, which is bprm->file when the tracepoint fires).
 * The exec tracepoint is host-wide, so every action here first checks that the task is inside the
 * enforcement cgroup's subtree (`profile_cgroup`, the cgroup the hooks attach to): a process
 * elsewhere is never reported, killed or quarantined. `quarantined` (by tgid + start time) makes
 * connect4/6 refuse the process's connects; forks inherit it, exits clear it. An enforced
 * identity's connect to a destination outside its profile (`profile_peers`, `profile_cidrs`) is
 * refused and its process quarantined (connect4/6 run only in the cgroup).
 * Needs sock_maps.h, sock_decide.h (leader_start, bump, sock_rodata), errors.h. */
#ifndef TETHER_LIB_SOCK_PROFILE_H
#define TETHER_LIB_SOCK_PROFILE_H

#define TETHER_SIGKILL 9

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);			/* identity */
	__type(value, __u8);			/* enum tether_profile_mode */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} profile_mode SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tether_profile_exe_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} profile_exes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tether_policy_key);	/* (profiled id, listener id, port, 0) */
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} profile_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* the kernel refuses an LPM trie without it */
	__type(key, struct tether_cidr_key);	/* (profiled id, port, 0, family, CIDR) */
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} profile_cidrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);			/* tgid */
	__type(value, struct tether_quarantine);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} quarantined SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);			/* written as the cgroup directory's fd */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} profile_cgroup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 10);		/* execs are rare next to connects */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} profile_events SEC(".maps");

/* start_ns names the task's process exactly, or to one tick when it came from /proc (coarse). */
static __always_inline int same_start(__u64 start, __u64 recorded, __u8 coarse)
{
	__u64 tick = sock_rodata.tick_ns;

	return coarse ? start / tick == recorded / tick : start == recorded;
}

/* The task's identity as proc_identity has it before this exec changes it, or 0. */
static __always_inline __u32 task_identity(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct tether_proc_identity *pi = bpf_map_lookup_elem(&proc_identity, &tgid);

	if (!pi || !same_start(leader_start(task), pi->start_ns, pi->coarse))
		return 0;
	return pi->id;
}

/* 1 only inside the enforcement cgroup's subtree; no cgroup set (-ENOENT) or any error: outside. */
static __always_inline int in_enforced_cgroup(void)
{
	return bpf_current_task_under_cgroup(&profile_cgroup, 0) == 1;
}

/* The parent is quarantined when it has the same identity: it made the child that deviated. A
 * parent of another identity (a launcher) or none is left alone. */
static __always_inline int quarantine_parent(struct task_struct *parent, __u32 id)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	struct tether_quarantine q = {
		.start_ns = leader_start(parent), .since_ns = bpf_ktime_get_boot_ns(), .id = id,
		.reason = TETHER_QUARANTINE_EXEC,
	};

	if (task_identity(parent) != id)
		return 0;
	if (bpf_map_update_elem(&quarantined, &ptgid, &q, BPF_ANY)) {
		count_error(FILE_ID, __LINE__, TETHER_ERR_MAP_FULL);
		return 0;
	}
	return 1;
}

/* A reserved event, or 0 (counted): the caller checks it once, then fills it (6.1's verifier
 * loses a ring buffer reservation that is checked for null twice). */
static __always_inline struct tether_profile_event *reserve_profile_event(void)
{
	struct tether_profile_event *e = bpf_ringbuf_reserve(&profile_events, sizeof(*e), 0);

	if (!e) {
		bump(&sock_counters, TETHER_SOCK_PROFILE_EVENTS_LOST);
		count_error(FILE_ID, __LINE__, TETHER_ERR_RINGBUF_FULL);
	}
	return e;
}

/* The task's lineage and the event's kind, the rest zero. */
static __always_inline void fill_profile_event(struct tether_profile_event *e, struct task_struct *task, __u32 kind,
					       __u32 id, __u8 mode)
{
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);

	__builtin_memset(e, 0, sizeof(*e));
	e->ktime_ns = bpf_ktime_get_boot_ns();
	e->start_ns = leader_start(task);
	e->parent_start_ns = leader_start(parent);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->kind = kind;
	e->tgid = BPF_CORE_READ(task, tgid);
	e->ppid = BPF_CORE_READ(parent, tgid);
	e->id = id;
	e->mode = mode;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
}

static __always_inline void profile_event(struct task_struct *task, struct linux_binprm *bprm, __u32 kind,
					  __u32 id, __u8 mode, __u32 dev, __u64 ino, __u8 parent_quarantined)
{
	const char *filename = BPF_CORE_READ(bprm, filename);
	struct tether_profile_event *e = reserve_profile_event();

	if (!e)
		return;
	fill_profile_event(e, task, kind, id, mode);
	e->exe_ino = ino;
	e->exe_dev = dev;
	e->parent_quarantined = parent_quarantined;
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename) < 0)
		count_error(FILE_ID, __LINE__, TETHER_ERR_READ_FILENAME);
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);	/* rare, and a kill wants its quarantine seen at once */
}

/* Checks one exec against the profile of the identity the process had until now (`id`): called
 * by the exec tracepoint before it gives the new program its identity. In enforce, SIGKILL from
 * here ends the task before the new program runs any code of its own (DESIGN.md); the exec has
 * already succeeded, so it is a kill, not a refusal. */
static __always_inline void profile_exec(struct task_struct *task, struct linux_binprm *bprm, __u32 id,
					 __u32 dev, __u64 ino)
{
	struct tether_profile_exe_key key = { .id = id, .dev = dev, .ino = ino };
	__u8 *mode, quarantined_parent = 0;

	if (!id)
		return;
	mode = bpf_map_lookup_elem(&profile_mode, &id);
	if (!mode || !in_enforced_cgroup())
		return;
	/* In the profile: nothing to report, not even while learning (user space adds what it
	 * learns here at once, so a loop of execs reports each file once, not each exec). */
	if (bpf_map_lookup_elem(&profile_exes, &key))
		return;
	if (*mode == TETHER_PROFILE_LEARN) {
		profile_event(task, bprm, TETHER_PROFILE_EXEC_SEEN, id, *mode, dev, ino, 0);
		return;
	}
	if (*mode != TETHER_PROFILE_ENFORCE) {
		profile_event(task, bprm, TETHER_PROFILE_EXEC_DEVIATION, id, *mode, dev, ino, 0);
		return;
	}
	bpf_send_signal(TETHER_SIGKILL);
	bump(&sock_counters, TETHER_SOCK_EXECS_KILLED);
	quarantined_parent = quarantine_parent(BPF_CORE_READ(task, real_parent), id);
	profile_event(task, bprm, TETHER_PROFILE_EXEC_KILLED, id, *mode, dev, ino, quarantined_parent);
}

/* A quarantined process's child is quarantined too: forking must not be a way out. */
static __always_inline void profile_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	struct tether_quarantine *q = bpf_map_lookup_elem(&quarantined, &ptgid), cq;

	if (!q || !same_start(leader_start(parent), q->start_ns, q->coarse))
		return;
	cq = *q;
	cq.start_ns = leader_start(child);
	cq.coarse = 0;
	if (bpf_map_update_elem(&quarantined, &ctgid, &cq, BPF_ANY))
		count_error(FILE_ID, __LINE__, TETHER_ERR_MAP_FULL);
}

static __always_inline void profile_exit(struct task_struct *task, __u32 tgid)
{
	struct tether_quarantine *q = bpf_map_lookup_elem(&quarantined, &tgid);

	if (q && same_start(leader_start(task), q->start_ns, q->coarse))
		bpf_map_delete_elem(&quarantined, &tgid);
}

/* connect4/6: a quarantined caller's connects fail with EPERM (the hooks run only in the cgroup). */
static __always_inline int caller_quarantined(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tether_quarantine *q = bpf_map_lookup_elem(&quarantined, &tgid);

	if (!q || !same_start(leader_start(bpf_get_current_task_btf()), q->start_ns, q->coarse))
		return 0;
	bump(&sock_counters, TETHER_SOCK_QUARANTINE_DENIED);
	return 1;
}

/* The destination is in the caller's profile: an identified local listener by (id, listener,
 * port), anything else by (id, port, address) in the trie. */
static __always_inline int profile_allows(__u32 src, __u32 dst, __u16 port, const struct ip_addr *ip)
{
	struct tether_policy_key peer = { .src = src, .dst = dst, .port = port };
	struct tether_cidr_key cidr = {
		.prefixlen = TETHER_CIDR_PREFIX_FIXED + (ip->family == 4 ? 32 : 128), .src = src, .port = port, .family = ip->family,
	};

	if (dst)
		return bpf_map_lookup_elem(&profile_peers, &peer) != 0;
	ip_copy(cidr.addr, ip);
	return bpf_map_lookup_elem(&profile_cidrs, &cidr) != 0;
}

/* connect4/6, after policy allowed the connect: an enforced identity's connect outside its
 * profile is refused and its process quarantined (learn and monitor read the flow table from
 * user space instead). Returns 1 to refuse. */
static __always_inline int profile_connect_refused(struct bpf_sock_addr *ctx, const struct ip_addr *ip)
{
	__u32 src, dst = 0, *listener, port = bpf_ntohs(ctx->user_port), tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = bpf_get_current_task_btf();
	struct tether_profile_event *e;
	struct tether_quarantine q = { .since_ns = bpf_ktime_get_boot_ns(), .reason = TETHER_QUARANTINE_CONNECT };
	__u8 *mode;

	if (ctx->type != SOCK_STREAM)
		return 0;
	src = caller_identity();
	mode = src ? bpf_map_lookup_elem(&profile_mode, &src) : 0;
	if (!mode || *mode != TETHER_PROFILE_ENFORCE)
		return 0;
	if (ip_is_local(ip)) {
		listener = bpf_map_lookup_elem(&listeners, &port);
		dst = listener ? *listener : 0;
	}
	if (profile_allows(src, dst, port, ip))
		return 0;
	q.start_ns = leader_start(task);
	q.id = src;
	if (bpf_map_update_elem(&quarantined, &tgid, &q, BPF_ANY))
		count_error(FILE_ID, __LINE__, TETHER_ERR_MAP_FULL);
	e = reserve_profile_event();
	if (e) {
		fill_profile_event(e, task, TETHER_PROFILE_CONNECT_REFUSED, src, TETHER_PROFILE_ENFORCE);
		e->peer_id = dst;
		e->port = port;
		e->family = ip->family;
		ip_copy(e->addr, ip);
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	}
	return 1;
}

#endif /* TETHER_LIB_SOCK_PROFILE_H */
