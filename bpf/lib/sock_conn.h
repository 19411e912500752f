/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Connections as sockops sees them: both ends of an established connection and the identities
 * the connect hook (client side) or the listener map (server side) gave them. sockops runs in
 * softirq for these callbacks: no current task, so events carry no tgid or cgroup. Needs
 * sock_maps.h, sock_addr.h, sock_decide.h and errors.h. */
#ifndef TETHER_LIB_SOCK_CONN_H
#define TETHER_LIB_SOCK_CONN_H

struct conn {
	struct ip_addr local, peer;
	__u16 local_port, peer_port;	/* host order */
};

/* remote_port is the network-order skc_dport that the kernel's context rewrite loads as a u16
 * and, on little-endian, shifts into the upper half (net/core/filter.c): bpf_ntohl() of it is the
 * port. A kernel that did not shift leaves the upper half zero. local_port is host order. */
static __always_inline __u16 remote_port(__u32 raw)
{
	return raw >> 16 ? bpf_ntohl(raw) : bpf_ntohs((__u16)raw);
}

static __always_inline int conn_read(struct bpf_sock_ops *skops, struct conn *c)
{
	if (skops->family == AF_INET) {
		ip_from_v4(&c->local, skops->local_ip4);
		ip_from_v4(&c->peer, skops->remote_ip4);
	} else if (skops->family == AF_INET6) {
		ip_from_v6(&c->local, skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2], skops->local_ip6[3]);
		ip_from_v6(&c->peer, skops->remote_ip6[0], skops->remote_ip6[1], skops->remote_ip6[2], skops->remote_ip6[3]);
	} else {
		return 0;
	}
	c->local_port = skops->local_port;
	c->peer_port = remote_port(skops->remote_port);
	return 1;
}

/* The key both sides compute alike: the client's end first. */
static __always_inline void conn_key(struct tether_conn_key *k, const struct ip_addr *client, __u16 client_port,
				     const struct ip_addr *server, __u16 server_port)
{
	ip_copy(k->client_addr, client);
	ip_copy(k->server_addr, server);
	k->client_port = client_port;
	k->server_port = server_port;
	k->family = client->family;
	k->_pad[0] = k->_pad[1] = k->_pad[2] = 0;
}

static __always_inline void emit_conn(struct bpf_sock_ops *skops, __u32 kind, const struct tether_sock_identity *ids,
				      const struct conn *c)
{
	struct tether_sock_event *e = reserve_event();

	if (!e)
		return;
	e->ktime_ns = bpf_ktime_get_boot_ns();
	e->cookie = bpf_get_socket_cookie(skops);
	e->cgroup_id = 0;
	e->kind = kind;
	e->tgid = 0;
	e->local_id = ids->local_id;
	e->peer_id = ids->peer_id;
	e->family = c->local.family;
	e->local_port = c->local_port;
	e->peer_port = c->peer_port;
	e->verdict = TETHER_VERDICT_ALLOW;
	e->mode = 0;
	ip_copy(e->local_addr, &c->local);
	ip_copy(e->peer_addr, &c->peer);
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	e->role = ids->role;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	submit_sock_event(e);
}

/* The callbacks sockops acts on; STATE_CB only for sockets we asked it for, at TCP_CLOSE (fired
 * before the socket is unhashed: its ports are still there). */
static __always_inline int conn_op(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;

	return op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB || op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB ||
	       (op == BPF_SOCK_OPS_STATE_CB && skops->args[1] == BPF_TCP_CLOSE);
}

/* An accepted socket: its listener's identity, and its client's as that client's connect left it
 * (read once, then dropped). Neither known: no storage, nothing reported. */
static __always_inline struct tether_sock_identity *server_ids(struct bpf_sock *sk, const struct conn *c)
{
	struct tether_sock_identity fresh = { .role = TETHER_SOCK_ROLE_SERVER }, *ids;
	struct tether_conn_key key;
	__u32 port = c->local_port, *id;

	id = bpf_map_lookup_elem(&listeners, &port);
	fresh.local_id = id ? *id : 0;
	conn_key(&key, &c->peer, c->peer_port, &c->local, c->local_port);
	id = bpf_map_lookup_elem(&conn_clients, &key);
	fresh.peer_id = id ? *id : 0;
	if (id)
		bpf_map_delete_elem(&conn_clients, &key);
	if (!fresh.local_id && !fresh.peer_id)
		return 0;
	ids = bpf_sk_storage_get(&sock_ids, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!ids) {
		count_error(FILE_ID, __LINE__, TETHER_ERR_SK_STORAGE);
		return 0;
	}
	*ids = fresh;
	return ids;
}

/* A client tells its server who it is through conn_clients (both ends are on this host when the
 * server's sockops runs at all); then both ends want their close reported. */
static __always_inline void conn_opened(struct bpf_sock_ops *skops, struct tether_sock_identity *ids,
					const struct conn *c, int client)
{
	struct tether_conn_key key;

	if (client && ids->local_id) {
		conn_key(&key, &c->local, c->local_port, &c->peer, c->peer_port);
		if (bpf_map_update_elem(&conn_clients, &key, &ids->local_id, BPF_ANY))
			count_error(FILE_ID, __LINE__, TETHER_ERR_MAP_FULL);
	}
	emit_conn(skops, TETHER_SOCK_OPEN, ids, c);
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

static __always_inline void conn_closed(struct bpf_sock_ops *skops, struct tether_sock_identity *ids, const struct conn *c)
{
	struct tether_conn_key key;

	emit_conn(skops, TETHER_SOCK_CLOSE, ids, c);
	if (ids->role == TETHER_SOCK_ROLE_CLIENT) {	/* its server may not have been ours to read it */
		conn_key(&key, &c->local, c->local_port, &c->peer, c->peer_port);
		bpf_map_delete_elem(&conn_clients, &key);
	}
}

#endif /* TETHER_LIB_SOCK_CONN_H */
