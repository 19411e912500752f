// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Feature probes: programs loaded to learn what this kernel accepts, then closed. Never
 * attached, no maps, no helpers: a refusal is the kernel's answer about the program type. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* fentry needs BTF, the JIT and BPF trampolines (ftrace direct calls); a kernel may also refuse
 * tracing programs outright (EPERM at load), which no file in /sys says. do_unlinkat is the
 * target libbpf-bootstrap's fentry example uses: present on every kernel with fentry. */
SEC("fentry/do_unlinkat")
int BPF_PROG(probe_fentry)
{
	return 0;
}
