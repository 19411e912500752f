// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Test-only object for the addon's cgroup attach, pin and map paths: a connect4 hook that allows
 * everything and counts calls, so attaching it anywhere can never deny a connection. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u64);
} test_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} connects SEC(".maps");

SEC("cgroup/connect4")
int allow_connect4(struct bpf_sock_addr *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&connects, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
	return 1;	/* allow */
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sockops_seen SEC(".maps");

/* Counts established TCP connections of the cgroup; a sockops program cannot deny anything. */
SEC("sockops")
int count_sockops(struct bpf_sock_ops *skops)
{
	__u32 zero = 0;
	__u64 *n;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	n = bpf_map_lookup_elem(&sockops_seen, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 1;
}

/* A classic tracepoint: loads anywhere, attaches only where tracefs is mounted. */
SEC("tp/sched/sched_process_exec")
int tp_exec(void *ctx)
{
	return 0;
}
