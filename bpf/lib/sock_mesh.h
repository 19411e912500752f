/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* The mesh's half in the kernel (MESH.md §1). connect4/6 point an allowed connect to a meshed,
 * non-local remote, on any port but peer agents' (mesh_config.peer_port), at the agent's tunnel
 * listener — IPv4 (and v4-mapped, on a dual-stack socket) at 127.0.0.1, IPv6 at ::1, port
 * mesh_config.tunnel_port — and record where it was going and who made it by socket cookie
 * (`mesh_pending`). sockops, when that socket is established (in softirq, before its ACK lets the
 * agent accept it), moves the record to `mesh_origins` under the client's end, which the agent's
 * accepted socket sees as its peer; the agent takes it, or the socket's close drops it. Needs sock_maps.h, sock_addr.h, sock_decide.h, sock_conn.h and errors.h. */
#ifndef TETHER_LIB_SOCK_MESH_H
#define TETHER_LIB_SOCK_MESH_H

#define MESH_NOT_MESHED 0
#define MESH_REDIRECTED 1
#define MESH_FAILED 2		/* meshed, but not recorded: refused, never sent in the clear */

/* The whole address is looked up, for the port and then for every port (0). */
static __always_inline int mesh_matches(const struct ip_addr *ip, __u16 port)
{
	struct tether_mesh_cidr_key key = {
		.prefixlen = TETHER_MESH_PREFIX_FIXED + (ip->family == 4 ? 32 : 128),
		.port = port, .family = ip->family,
	};

	ip_copy(key.addr, ip);
	if (bpf_map_lookup_elem(&mesh_cidrs, &key))
		return 1;
	key.port = 0;
	return bpf_map_lookup_elem(&mesh_cidrs, &key) != 0;
}

/* The context's address fields take 4-byte stores only. */
static __always_inline void mesh_rewrite(struct bpf_sock_addr *ctx, const struct ip_addr *ip, int v6_socket, __u16 tunnel_port)
{
	if (!v6_socket) {
		ctx->user_ip4 = bpf_htonl(0x7f000001);
	} else if (ip->family == 4) {	/* ::ffff:127.0.0.1: the socket stays on IPv4 */
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0xffff);
		ctx->user_ip6[3] = bpf_htonl(0x7f000001);
	} else {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = 0;
		ctx->user_ip6[3] = bpf_htonl(1);
	}
	ctx->user_port = bpf_htons(tunnel_port);
}

/* After the connect was allowed: redirect it when the mesh is on and the destination meshed. */
static __always_inline int mesh_redirect(struct bpf_sock_addr *ctx, const struct ip_addr *ip, int v6_socket)
{
	__u32 zero = 0;
	__u16 port = bpf_ntohs(ctx->user_port);
	struct tether_mesh_config *cfg = bpf_map_lookup_elem(&mesh_config, &zero);
	struct tether_mesh_origin o = {};
	__u64 cookie;

	if (!cfg || !cfg->enabled || !cfg->tunnel_port || ctx->type != SOCK_STREAM)
		return MESH_NOT_MESHED;
	if (port == cfg->peer_port)	/* an agent dialing a peer agent: the tunnel itself */
		return MESH_NOT_MESHED;
	if (!mesh_matches(ip, port) || ip_is_local(ip))
		return MESH_NOT_MESHED;
	cookie = bpf_get_socket_cookie(ctx);
	o.cookie = cookie;
	o.start_ns = leader_start(bpf_get_current_task_btf());
	o.cgroup_id = bpf_get_current_cgroup_id();
	o.tgid = bpf_get_current_pid_tgid() >> 32;
	o.src_id = caller_identity();
	o.port = port;
	o.family = ip->family;
	ip_copy(o.addr, ip);
	if (bpf_map_update_elem(&mesh_pending, &cookie, &o, BPF_ANY)) {
		count_error(FILE_ID, __LINE__, TETHER_ERR_MAP_FULL);
		return MESH_FAILED;
	}
	mesh_rewrite(ctx, ip, v6_socket, cfg->tunnel_port);
	return MESH_REDIRECTED;
}

static __always_inline void mesh_key(struct tether_mesh_origin_key *k, const struct conn *c)
{
	ip_copy(k->addr, &c->local);
	k->port = c->local_port;
	k->family = c->local.family;
	k->_pad = 0;
}

/* ACTIVE_ESTABLISHED: a redirected socket's record goes where the agent will look on accept. */
static __always_inline void mesh_established(struct bpf_sock_ops *skops, const struct conn *c)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct tether_mesh_origin *o = bpf_map_lookup_elem(&mesh_pending, &cookie);
	struct tether_mesh_origin_key key;

	if (!o)
		return;
	mesh_key(&key, c);
	if (bpf_map_update_elem(&mesh_origins, &key, o, BPF_ANY))
		count_error(FILE_ID, __LINE__, TETHER_ERR_MAP_FULL);
	bpf_map_delete_elem(&mesh_pending, &cookie);
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* TCP_CLOSE: a record the agent never took goes with its socket, so a later connection from the
 * same address and port never finds it. */
static __always_inline void mesh_closed(struct bpf_sock_ops *skops, const struct conn *c)
{
	struct tether_mesh_origin_key key;
	struct tether_mesh_origin *o;

	mesh_key(&key, c);
	o = bpf_map_lookup_elem(&mesh_origins, &key);
	if (o && o->cookie == bpf_get_socket_cookie(skops))
		bpf_map_delete_elem(&mesh_origins, &key);
}

#endif /* TETHER_LIB_SOCK_MESH_H */
