// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Test-only object: one map pinned by name under the loader's pin root, so a second load of the
 * object shares it (how a restarted agent keeps its state). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared_state SEC(".maps");
