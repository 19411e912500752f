// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Identities in the kernel and identity-bound connects. Exec/fork/exit tracepoints keep
 * proc_identity (tgid → identity, start time) from exe_identity, so a workload has its identity
 * before its first instruction, and across agent restarts. cgroup/connect4 finds the caller's identity (proc_identity, checked
 * against the task's start time), the destination's (the identity listening on that local port),
 * and allows only what the policy generation in force allows. Attached at the agent's --cgroup
 * (never the v2 root in tests), it acts only on that subtree; with no policy it allows all. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tether_abi.h"

#define FILE_ID TETHER_FILE_SOCK
#include "lib/errors.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ns per USER_HZ tick (/proc's start time unit), set by the agent before load. */
const volatile __u64 tick_ns = 10000000;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);			/* tgid */
	__type(value, struct tether_proc_identity);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} proc_identity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tether_exe_key);
	__type(value, __u32);			/* identity given at exec */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} exe_identity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);			/* local TCP port, host order */
	__type(value, __u32);			/* identity listening there */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);		/* two generations of 65,536 rules */
	__type(key, struct tether_policy_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tether_sock_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TETHER_VERDICT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} verdicts SEC(".maps");

static __always_inline void count_verdict(__u32 verdict)
{
	__u64 *n = bpf_map_lookup_elem(&verdicts, &verdict);

	if (n)
		*n += 1;
}

static __always_inline __u64 leader_start(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_boottime);
}

/* Identity from the moment of exec, before the new program runs a single instruction: the
 * executable's file (and the effective uid, when the entry names one) decides it. An exec into
 * a file with no identity takes the identity away. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_identity_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct tether_exe_key key = {
		.ino = BPF_CORE_READ(bprm, file, f_inode, i_ino),
		.dev = BPF_CORE_READ(bprm, file, f_inode, i_sb, s_dev),
		.uid = BPF_CORE_READ(task, cred, euid.val),
	};
	__u32 tgid = BPF_CORE_READ(task, tgid), *id;
	struct tether_proc_identity pi = { .start_ns = leader_start(task), .coarse = 0 };

	id = bpf_map_lookup_elem(&exe_identity, &key);
	if (!id) {
		key.uid = TETHER_ANY_UID;
		id = bpf_map_lookup_elem(&exe_identity, &key);
	}
	if (!id) {
		bpf_map_delete_elem(&proc_identity, &tgid);
		return 0;
	}
	pi.id = *id;
	if (bpf_map_update_elem(&proc_identity, &tgid, &pi, BPF_ANY))
		count_error(FILE_ID, __LINE__, TETHER_ERR_MAP_FULL);
	return 0;
}

/* A forked process is the same program with the same identity until it execs. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_identity_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	struct tether_proc_identity *pi, ci;

	if (BPF_CORE_READ(child, pid) != ctgid)
		return 0;	/* a thread */
	pi = bpf_map_lookup_elem(&proc_identity, &ptgid);
	if (!pi || pi->start_ns != leader_start(parent))
		return 0;	/* (a coarse parent entry is not inherited: user space fills its children) */
	ci.id = pi->id;
	ci.coarse = 0;
	ci._pad[0] = ci._pad[1] = ci._pad[2] = 0;
	ci.start_ns = leader_start(child);
	if (bpf_map_update_elem(&proc_identity, &ctgid, &ci, BPF_ANY))
		count_error(FILE_ID, __LINE__, TETHER_ERR_MAP_FULL);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_identity_exit, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct tether_proc_identity *pi;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;	/* not the last thread */
	pi = bpf_map_lookup_elem(&proc_identity, &tgid);
	if (pi && pi->start_ns == leader_start(task))
		bpf_map_delete_elem(&proc_identity, &tgid);
	return 0;
}

/* The caller's identity, or 0: an entry left by an earlier process of this pid does not count. */
static __always_inline __u32 caller_identity(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tether_proc_identity *pi = bpf_map_lookup_elem(&proc_identity, &tgid);
	struct task_struct *task;
	__u64 start;

	if (!pi)
		return 0;
	task = bpf_get_current_task_btf();
	start = leader_start(task);
	if (pi->coarse ? start / tick_ns != pi->start_ns / tick_ns : start != pi->start_ns)
		return 0;
	return pi->id;
}

static __always_inline int allowed(__u32 src, __u32 dst, __u16 port, __u8 generation)
{
	struct tether_policy_key key = { .src = src, .dst = dst, .port = port, .generation = generation };

	if (bpf_map_lookup_elem(&policy, &key))
		return 1;
	key.port = 0;	/* a rule for every port */
	return bpf_map_lookup_elem(&policy, &key) != 0;
}

/* A listener's identity, recorded when it binds a port: the destination side of a local connect.
 * Port 0 (the kernel picks one later) says nothing yet; an unidentified binder clears the port. */
SEC("cgroup/bind4")
int handle_bind4(struct bpf_sock_addr *ctx)
{
	__u32 port = bpf_ntohs(ctx->user_port), id;

	if (ctx->type != SOCK_STREAM || port == 0)
		return 1;
	id = caller_identity();
	if (id) {
		if (bpf_map_update_elem(&listeners, &port, &id, BPF_ANY))
			count_error(FILE_ID, __LINE__, TETHER_ERR_MAP_FULL);
	} else {
		bpf_map_delete_elem(&listeners, &port);
	}
	return 1;	/* binding is never refused here: policy is about who may connect */
}

SEC("cgroup/connect4")
int handle_connect4(struct bpf_sock_addr *ctx)
{
	__u32 zero = 0, src, *dst;
	struct tether_sock_config *cfg = bpf_map_lookup_elem(&sock_config, &zero);
	__u32 port;
	int ok;

	/* Read once: the whole decision uses one policy generation, never a mix of two. */
	if (!cfg || !cfg->enabled || ctx->type != SOCK_STREAM)
		return 1;
	port = bpf_ntohs(ctx->user_port);
	src = caller_identity();
	if (!src) {
		ok = cfg->unidentified == TETHER_UNIDENTIFIED_ALLOW;
	} else {
		dst = bpf_map_lookup_elem(&listeners, &port);
		ok = dst && allowed(src, *dst, port, cfg->generation);
	}
	if (ok) {
		count_verdict(TETHER_VERDICT_ALLOW);
		return 1;
	}
	if (cfg->mode == TETHER_MODE_AUDIT) {
		count_verdict(TETHER_VERDICT_AUDIT);
		return 1;
	}
	count_verdict(TETHER_VERDICT_DENY);
	return 0;	/* connect() fails with EPERM */
}
