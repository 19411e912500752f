/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* mesh.inbound in the kernel (MESH.md §1: a meshed workload is reached only through its agent).
 * cgroup_skb/ingress sees what the cgroup's sockets receive; a TCP SYN from another host (not
 * loopback, not in local_addrs) to a port with an identified listener — other than peer agents'
 * tunnel port — is dropped (strict) or let through unauthenticated (permissive), counted and
 * reported either way. The agent's own connects
 * to its workloads come from this host, and pass. Needs sock_maps.h, sock_addr.h, sock_decide.h
 * and the `sock_rodata` setting. */
#ifndef TETHER_LIB_SOCK_INBOUND_H
#define TETHER_LIB_SOCK_INBOUND_H

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

/* The header bytes read, without bitfields (cgroup_skb data starts at the network header). */
struct inbound_v4 {
	__u8 ver_ihl;
	__u8 _tos;
	__u16 _len;
	__u32 _frag;
	__u8 _ttl;
	__u8 protocol;
	__u16 _csum;
	__u32 saddr;
	__u32 daddr;
};

struct inbound_v6 {
	__u32 _ver_flow;
	__u16 _len;
	__u8 nexthdr;
	__u8 _hop;
	__u32 saddr[4];
	__u32 daddr[4];
};

struct inbound_tcp {
	__u16 source;
	__u16 dest;
	__u32 _seq;
	__u32 _ack;
	__u8 _doff;
	__u8 flags;
};
#define INBOUND_TCP_BYTES 14	/* up to the flags */

struct inbound_syn {
	struct ip_addr src;
	struct ip_addr dst;
	__u16 src_port;		/* host order */
	__u16 dst_port;
};

/* A SYN (ACK clear) over IPv4 (any header length; TCP is reassembled before the socket filter)
 * or IPv6 with TCP straight after the fixed header. Anything else passes unread: an extension
 * header before TCP is not followed. Returns 1 when `syn` is filled. */
static __always_inline int inbound_syn_read(struct __sk_buff *skb, struct inbound_syn *syn)
{
	struct inbound_tcp tcp;
	__u32 off;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct inbound_v4 h;

		if (bpf_skb_load_bytes(skb, 0, &h, sizeof(h)) || h.protocol != IPPROTO_TCP || (h.ver_ihl & 0xf) < 5)
			return 0;
		off = (h.ver_ihl & 0xf) * 4;
		ip_from_v4(&syn->src, h.saddr);
		ip_from_v4(&syn->dst, h.daddr);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct inbound_v6 h;

		if (bpf_skb_load_bytes(skb, 0, &h, sizeof(h)) || h.nexthdr != IPPROTO_TCP)
			return 0;
		off = sizeof(h);
		ip_from_v6(&syn->src, h.saddr[0], h.saddr[1], h.saddr[2], h.saddr[3]);
		ip_from_v6(&syn->dst, h.daddr[0], h.daddr[1], h.daddr[2], h.daddr[3]);
	} else {
		return 0;
	}
	if (bpf_skb_load_bytes(skb, off, &tcp, INBOUND_TCP_BYTES))
		return 0;
	if ((tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return 0;
	syn->src_port = bpf_ntohs(tcp.source);
	syn->dst_port = bpf_ntohs(tcp.dest);
	return 1;
}

/* From the listener's side: role server, the listener's identity and address, the remote's. */
static __always_inline void emit_inbound(struct __sk_buff *skb, const struct inbound_syn *syn, __u32 id, __u8 verdict)
{
	struct tether_sock_event *e = reserve_event();
	struct tether_sock_config *cfg;
	__u32 zero = 0;

	if (!e)
		return;
	cfg = bpf_map_lookup_elem(&sock_config, &zero);
	e->ktime_ns = bpf_ktime_get_boot_ns();
	e->cookie = bpf_get_socket_cookie(skb);
	e->cgroup_id = bpf_skb_cgroup_id(skb);	/* the listener's: softirq has no caller */
	e->kind = TETHER_SOCK_INBOUND;
	e->tgid = 0;
	e->local_id = id;
	e->peer_id = 0;
	e->family = syn->src.family;
	e->local_port = syn->dst_port;
	e->peer_port = syn->src_port;
	e->verdict = verdict;
	e->mode = cfg ? cfg->mode : TETHER_MODE_ENFORCE;
	ip_copy(e->local_addr, &syn->dst);
	ip_copy(e->peer_addr, &syn->src);
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	e->role = TETHER_SOCK_ROLE_SERVER;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	submit_sock_event(e);
}

/* 1: pass, 0: drop. Most packets leave at the first two tests: the mesh's inbound mode is off,
 * or the receiving socket is not a listener (only a listener gets a SYN worth looking at). */
static __always_inline int inbound_check(struct __sk_buff *skb)
{
	__u32 zero = 0, port, *id;
	struct tether_mesh_config *cfg = bpf_map_lookup_elem(&mesh_config, &zero);
	struct bpf_sock *sk = skb->sk;
	struct inbound_syn syn;
	__u8 strict;

	if (!cfg || !cfg->enabled || (cfg->inbound != TETHER_MESH_INBOUND_STRICT && cfg->inbound != TETHER_MESH_INBOUND_PERMISSIVE))
		return 1;
	if (!sk || sk->state != TCP_LISTEN)
		return 1;
	strict = cfg->inbound == TETHER_MESH_INBOUND_STRICT;
	if (!inbound_syn_read(skb, &syn) || ip_is_local(&syn.src))
		return 1;
	port = syn.dst_port;
	if (port == cfg->peer_port)	/* peer agents' tunnels: the way in is never closed */
		return 1;
	id = bpf_map_lookup_elem(&listeners, &port);
	if (!id || !*id)
		return 1;
	bump(&sock_counters, strict ? TETHER_SOCK_INBOUND_DENIED : TETHER_SOCK_INBOUND_UNAUTHENTICATED);
	emit_inbound(skb, &syn, *id, strict ? TETHER_VERDICT_DENY : TETHER_VERDICT_ALLOW);
	return !strict;
}

#endif /* TETHER_LIB_SOCK_INBOUND_H */
