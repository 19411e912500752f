// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Identities in the kernel and identity-bound connections. Exec/fork/exit tracepoints keep
 * proc_identity (tgid → identity, start time) from exe_identity, so a workload has its identity
 * before its first instruction, and across agent restarts. cgroup/bind4,6 record which identity
 * listens on a port; cgroup/connect4,6 allow a local destination by (caller, listener, port) and
 * any other by (caller, port, remote CIDR), in the policy generation in force, counting flows and
 * reporting every deny, then redirect an allowed connect to a meshed remote to the agent's tunnel
 * listener; sockops reports each identified connection's open and close for both ends and hands a
 * redirected connection's origin to the agent; cgroup_skb/ingress keeps other hosts' direct SYNs
 * from meshed listeners (mesh.inbound). Behaviour profiles (lib/sock_profile.h): the exec
 * tracepoint checks a profiled identity's exec against its allow-list (report or kill, in the
 * cgroup only), connect4/6 refuse quarantined processes.
 * Attached at the agent's --cgroup (never the v2 root in tests), the hooks act only on that
 * subtree; with no policy they allow all. Helpers: lib/sock_*.h. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tether_abi.h"

#define FILE_ID TETHER_FILE_SOCK
#include "lib/errors.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "lib/sock_maps.h"

const volatile struct tether_sock_rodata sock_rodata SEC(".rodata.config") = {
	.tick_ns = 10000000,	/* USER_HZ 100; the agent sets the host's before load */
	.wakeup_bytes = 0,
};

/* A wake-up of the reader costs several times the programs' own work (one per connect and two
 * per connection would make connect() a third slower): wake it only once wakeup_bytes wait; the
 * agent drains the rest on a short timer (SockPrograms). */
static __always_inline void submit_sock_event(void *e)
{
	__u64 waiting = bpf_ringbuf_query(&sock_events, BPF_RB_AVAIL_DATA);

	bpf_ringbuf_submit(e, waiting >= sock_rodata.wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

#include "lib/sock_addr.h"
#include "lib/sock_decide.h"
#include "lib/sock_conn.h"
#include "lib/sock_mesh.h"
#include "lib/sock_inbound.h"
#include "lib/sock_profile.h"

/* Identity from the moment of exec, before the new program runs a single instruction: the
 * executable's file (and the effective uid, when the entry names one) decides it, else the
 * cgroup the program starts in. An exec into a file with neither takes the identity away. */
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

	/* The identity the process had until this exec answers for it (lib/sock_profile.h). */
	profile_exec(task, bprm, task_identity(task), key.dev, key.ino);
	id = bpf_map_lookup_elem(&exe_identity, &key);
	if (!id) {
		key.uid = TETHER_ANY_UID;
		id = bpf_map_lookup_elem(&exe_identity, &key);
	}
	if (!id) {
		__u64 cgroup = bpf_get_current_cgroup_id();

		id = bpf_map_lookup_elem(&cgroup_identity, &cgroup);
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
	struct tether_proc_identity *pi, ci = {};

	if (BPF_CORE_READ(child, pid) != ctgid)
		return 0;	/* a thread */
	profile_fork(parent, child);
	pi = bpf_map_lookup_elem(&proc_identity, &ptgid);
	if (!pi || pi->start_ns != leader_start(parent))
		return 0;	/* (a coarse parent entry is not inherited: user space fills its children) */
	ci.id = pi->id;
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
	profile_exit(task, tgid);
	pi = bpf_map_lookup_elem(&proc_identity, &tgid);
	if (pi && pi->start_ns == leader_start(task))
		bpf_map_delete_elem(&proc_identity, &tgid);
	return 0;
}

SEC("cgroup/bind4")
int handle_bind4(struct bpf_sock_addr *ctx)
{
	return record_listener(ctx);
}

SEC("cgroup/bind6")
int handle_bind6(struct bpf_sock_addr *ctx)
{
	return record_listener(ctx);
}

/* Returning 0 makes connect() fail with EPERM: a quarantined caller's (lib/sock_profile.h), else
 * by policy, else an enforced profile's (which quarantines the caller). Policy decides first: the mesh only redirects
 * what the caller may reach. */
SEC("cgroup/connect4")
int handle_connect4(struct bpf_sock_addr *ctx)
{
	struct ip_addr ip;

	if (agent_connect())
		return 1;
	if (caller_quarantined())
		return 0;
	ip_from_v4(&ip, ctx->user_ip4);
	if (decide_connect(ctx, &ip) == TETHER_VERDICT_DENY || profile_connect_refused(ctx, &ip))
		return 0;
	return mesh_redirect(ctx, &ip, 0) != MESH_FAILED;
}

SEC("cgroup/connect6")
int handle_connect6(struct bpf_sock_addr *ctx)
{
	struct ip_addr ip;

	if (agent_connect())
		return 1;
	if (caller_quarantined())
		return 0;
	ip_from_v6(&ip, ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]);
	if (decide_connect(ctx, &ip) == TETHER_VERDICT_DENY || profile_connect_refused(ctx, &ip))
		return 0;
	return mesh_redirect(ctx, &ip, 1) != MESH_FAILED;
}

/* mesh.inbound: a SYN from another host straight to a meshed listener is dropped (strict) or
 * reported unauthenticated (permissive). Returning 0 drops the packet. */
SEC("cgroup_skb/ingress")
int handle_ingress(struct __sk_buff *skb)
{
	return inbound_check(skb);
}

/* Connections of identified sockets only: the client's storage (written by connect) or an
 * identified listener (or client) on the server's side; others cost a lookup or two. First, a
 * redirected client's origin goes to mesh_origins (identified or not), and leaves at its close. */
SEC("sockops")
int handle_sockops(struct bpf_sock_ops *skops)
{
	struct tether_sock_identity *ids;
	struct bpf_sock *sk = skops->sk;
	__u32 op = skops->op;
	struct conn c;

	if (!sk || !conn_op(skops) || !conn_read(skops, &c))
		return 1;
	if (op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		mesh_established(skops, &c);
	else if (op == BPF_SOCK_OPS_STATE_CB)
		mesh_closed(skops, &c);
	if (op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		ids = server_ids(sk, &c);
	else
		ids = bpf_sk_storage_get(&sock_ids, sk, 0, 0);
	if (!ids)
		return 1;
	if (op == BPF_SOCK_OPS_STATE_CB)
		conn_closed(skops, ids, &c);
	else
		conn_opened(skops, ids, &c, op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB);
	return 1;
}
