// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Never loaded: instantiates every shared struct and enum so `make build` can dump their BTF
 * (bpftool btf dump) for agent/kernel/gen-abi.ts. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tether_abi.h"

struct tether_proc_event abi_proc_event __attribute__((used));
struct tether_err_key abi_err_key __attribute__((used));
struct tether_proc_config abi_proc_config __attribute__((used));
struct tether_proc_identity abi_proc_identity __attribute__((used));
struct tether_exe_key abi_exe_key __attribute__((used));
struct tether_policy_key abi_policy_key __attribute__((used));
struct tether_sock_config abi_sock_config __attribute__((used));
struct tether_sock_rodata abi_sock_rodata __attribute__((used));
struct tether_addr_key abi_addr_key __attribute__((used));
struct tether_cidr_key abi_cidr_key __attribute__((used));
struct tether_flow_key abi_flow_key __attribute__((used));
struct tether_flow_stats abi_flow_stats __attribute__((used));
struct tether_sock_event abi_sock_event __attribute__((used));
struct tether_sock_identity abi_sock_identity __attribute__((used));
struct tether_conn_key abi_conn_key __attribute__((used));
struct tether_mesh_cidr_key abi_mesh_cidr_key __attribute__((used));
struct tether_mesh_config abi_mesh_config __attribute__((used));
struct tether_mesh_origin_key abi_mesh_origin_key __attribute__((used));
struct tether_mesh_origin abi_mesh_origin __attribute__((used));
struct tether_profile_exe_key abi_profile_exe_key __attribute__((used));
struct tether_quarantine abi_quarantine __attribute__((used));
struct tether_profile_event abi_profile_event __attribute__((used));
enum tether_profile_mode abi_profile_mode __attribute__((used));
enum tether_quarantine_reason abi_quarantine_reason __attribute__((used));
enum tether_profile_event_kind abi_profile_event_kind __attribute__((used));
enum tether_mesh_prefix abi_mesh_prefix __attribute__((used));
enum tether_mesh_inbound abi_mesh_inbound __attribute__((used));
enum tether_sock_event_kind abi_sock_event_kind __attribute__((used));
enum tether_sock_counter abi_sock_counter __attribute__((used));
enum tether_cidr_prefix abi_cidr_prefix __attribute__((used));
enum tether_sock_role abi_sock_role __attribute__((used));
enum tether_mode abi_mode __attribute__((used));
enum tether_unidentified abi_unidentified __attribute__((used));
enum tether_verdict abi_verdict __attribute__((used));
enum tether_proc_kind abi_proc_kind __attribute__((used));
enum tether_counter abi_counter __attribute__((used));
enum tether_err abi_err __attribute__((used));
enum tether_file_id abi_file_id __attribute__((used));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
