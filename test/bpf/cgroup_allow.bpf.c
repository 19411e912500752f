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
