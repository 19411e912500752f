/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* No silent failure: a failed helper or reserve is counted by {file, line, err} in the per-CPU
 * `errors` map, which user space exports as tether_kernel_bpf_errors_total. Include once per
 * object, after defining FILE_ID. */
#ifndef TETHER_LIB_ERRORS_H
#define TETHER_LIB_ERRORS_H

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, struct tether_err_key);
	__type(value, __u64);
} errors SEC(".maps");

static __always_inline int count_error(__u16 file, __u16 line, __u32 err)
{
	struct tether_err_key key = { .file = file, .line = line, .err = err };
	__u64 one = 1, *n;

	n = bpf_map_lookup_elem(&errors, &key);
	if (n)
		*n += 1;	/* per-CPU value: no other CPU writes it */
	else
		bpf_map_update_elem(&errors, &key, &one, BPF_NOEXIST);
	return 0;
}

#endif /* TETHER_LIB_ERRORS_H */
