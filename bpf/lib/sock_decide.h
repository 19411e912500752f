/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* How sock.bpf.c decides a connect, and what it leaves behind: the verdict counters, the flow
 * table, a verdict event for every deny or would-deny, and the socket's identities for sockops.
 * Needs sock_maps.h, sock_addr.h, errors.h and the `sock_rodata` setting. */
#ifndef TETHER_LIB_SOCK_DECIDE_H
#define TETHER_LIB_SOCK_DECIDE_H

static __always_inline void bump(void *counters, __u32 idx)
{
	__u64 *n = bpf_map_lookup_elem(counters, &idx);

	if (n)
		*n += 1;	/* per-CPU value: no other CPU writes it */
}

static __always_inline __u64 leader_start(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_boottime);
}

/* The caller's identity, or 0: an entry left by an earlier process of this pid does not count. */
static __always_inline __u32 caller_identity(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tether_proc_identity *pi = bpf_map_lookup_elem(&proc_identity, &tgid);
	__u64 start, tick = sock_rodata.tick_ns;

	if (!pi)
		return 0;
	start = leader_start(bpf_get_current_task_btf());
	if (pi->coarse ? start / tick != pi->start_ns / tick : start != pi->start_ns)
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

/* The whole address is looked up: the trie finds the longest rule prefix that covers it. */
static __always_inline int cidr_allowed(__u32 src, __u16 port, __u8 generation, const struct ip_addr *ip)
{
	struct tether_cidr_key key = {
		.prefixlen = TETHER_CIDR_PREFIX_FIXED + (ip->family == 4 ? 32 : 128),
		.src = src, .port = port, .generation = generation, .family = ip->family,
	};

	ip_copy(key.addr, ip);
	if (bpf_map_lookup_elem(&cidr_policy, &key))
		return 1;
	key.port = 0;
	return bpf_map_lookup_elem(&cidr_policy, &key) != 0;
}

static __always_inline void record_flow(__u32 src, __u32 dst, __u16 port, const struct ip_addr *ip, __u8 verdict)
{
	struct tether_flow_key key = { .src = src, .dst = dst, .port = port };
	struct tether_flow_stats first = { .count = 1, .verdict = verdict }, *st;
	__u64 now = bpf_ktime_get_boot_ns();

	if (!dst) {
		key.family = ip->family;
		ip_copy(key.addr, ip);
	}
	st = bpf_map_lookup_elem(&flows, &key);
	if (!st) {
		first.last_ns = now;
		if (!bpf_map_update_elem(&flows, &key, &first, BPF_NOEXIST))
			return;
		st = bpf_map_lookup_elem(&flows, &key);	/* another CPU inserted it first */
		if (!st) {
			count_error(FILE_ID, __LINE__, TETHER_ERR_MAP_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&st->count, 1);
	st->last_ns = now;
	st->verdict = verdict;
}

static __always_inline struct tether_sock_event *reserve_event(void)
{
	struct tether_sock_event *e = bpf_ringbuf_reserve(&sock_events, sizeof(*e), 0);

	if (!e) {
		bump(&sock_counters, TETHER_SOCK_EVENTS_LOST);
		count_error(FILE_ID, __LINE__, TETHER_ERR_RINGBUF_FULL);
	}
	return e;
}

static __always_inline void emit_verdict(void *ctx, __u32 src, __u32 dst, __u16 port, const struct ip_addr *ip,
					 __u8 verdict, __u8 mode)
{
	struct tether_sock_event *e = reserve_event();

	if (!e)
		return;
	e->ktime_ns = bpf_ktime_get_boot_ns();
	e->cookie = bpf_get_socket_cookie(ctx);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->kind = TETHER_SOCK_VERDICT;
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	e->local_id = src;
	e->peer_id = dst;
	e->family = ip->family;
	e->local_port = 0;
	e->peer_port = port;
	e->verdict = verdict;
	e->mode = mode;
	__builtin_memset(e->local_addr, 0, sizeof(e->local_addr));
	ip_copy(e->peer_addr, ip);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->role = TETHER_SOCK_ROLE_CLIENT;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	submit_sock_event(e);
}

/* The connect is in the caller's context: the last moment both identities are known for sure.
 * sockops reads them back when the connection is established. */
static __always_inline void remember_ids(struct bpf_sock_addr *ctx, __u32 src, __u32 dst)
{
	struct tether_sock_identity *ids;
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return;
	ids = bpf_sk_storage_get(&sock_ids, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!ids) {
		count_error(FILE_ID, __LINE__, TETHER_ERR_SK_STORAGE);
		return;
	}
	ids->local_id = src;
	ids->peer_id = dst;
	ids->role = TETHER_SOCK_ROLE_CLIENT;
}

/* A listener's identity, recorded when it binds a port: the destination side of a local connect.
 * Port 0 (the kernel picks one later) says nothing yet; an unidentified binder clears the port.
 * IPv4 and IPv6 share the port space a connect is decided by. */
static __always_inline int record_listener(struct bpf_sock_addr *ctx)
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

/* The agent's own connect: its tunnels' legs (to a peer agent, to a local workload) must not be
 * judged as an unidentified process's, nor sent back to itself. */
static __always_inline int agent_connect(void)
{
	__u32 zero = 0;
	struct tether_sock_config *cfg = bpf_map_lookup_elem(&sock_config, &zero);

	return cfg && cfg->agent_tgid && cfg->agent_tgid == (__u32)(bpf_get_current_pid_tgid() >> 32);
}

/* The whole decision of connect4/6 for one destination; returns the verdict. */
static __always_inline int decide_connect(struct bpf_sock_addr *ctx, const struct ip_addr *ip)
{
	__u32 zero = 0, src, dst = 0, *listener, port = bpf_ntohs(ctx->user_port);
	struct tether_sock_config *live = bpf_map_lookup_elem(&sock_config, &zero), cfg;
	__u8 verdict;
	int ok;

	if (!live || ctx->type != SOCK_STREAM)
		return TETHER_VERDICT_ALLOW;
	cfg = *live;	/* one copy: the whole decision uses one policy generation, never a mix of two */
	if (!cfg.enabled)
		return TETHER_VERDICT_ALLOW;
	src = caller_identity();
	if (ip_is_local(ip)) {
		listener = bpf_map_lookup_elem(&listeners, &port);
		dst = listener ? *listener : 0;
	}
	if (!src)
		ok = cfg.unidentified == TETHER_UNIDENTIFIED_ALLOW;
	else if (dst)
		ok = allowed(src, dst, port, cfg.generation);
	else	/* external: any destination without an identified local listener */
		ok = cidr_allowed(src, port, cfg.generation, ip);
	verdict = ok ? TETHER_VERDICT_ALLOW : cfg.mode == TETHER_MODE_AUDIT ? TETHER_VERDICT_AUDIT : TETHER_VERDICT_DENY;
	bump(&verdicts, verdict);
	if (src)
		record_flow(src, dst, port, ip, verdict);
	if (verdict != TETHER_VERDICT_ALLOW)
		emit_verdict(ctx, src, dst, port, ip, verdict, cfg.mode);
	if (verdict != TETHER_VERDICT_DENY && (src || dst))
		remember_ids(ctx, src, dst);
	return verdict;
}

#endif /* TETHER_LIB_SOCK_DECIDE_H */
