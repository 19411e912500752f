// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Never loaded: instantiates every shared struct and enum so `make build` can dump their BTF
 * (bpftool btf dump) for agent/kernel/gen-abi.ts. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tether_abi.h"

struct tether_proc_event abi_proc_event __attribute__((used));
struct tether_err_key abi_err_key __attribute__((used));
struct tether_proc_config abi_proc_config __attribute__((used));
enum tether_proc_kind abi_proc_kind __attribute__((used));
enum tether_counter abi_counter __attribute__((used));
enum tether_err abi_err __attribute__((used));
enum tether_file_id abi_file_id __attribute__((used));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
