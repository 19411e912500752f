/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Addresses as sock.bpf.c's policy sees them: a v4-mapped IPv6 address (::ffff:a.b.c.d) is IPv4,
 * so a dual-stack socket cannot step around an IPv4 rule. Needs sock_maps.h (local_addrs). */
#ifndef TETHER_LIB_SOCK_ADDR_H
#define TETHER_LIB_SOCK_ADDR_H

#define AF_INET 2
#define AF_INET6 10

struct ip_addr {
	__u32 family;		/* 4 or 6 */
	__u32 w[4];		/* network order; IPv4 in w[0], the rest zero */
};

static __always_inline void ip_from_v4(struct ip_addr *ip, __u32 addr)
{
	ip->family = 4;
	ip->w[0] = addr;
	ip->w[1] = ip->w[2] = ip->w[3] = 0;
}

/* Word by word: the context's IPv6 fields may only be read 4 bytes at a time. */
static __always_inline void ip_from_v6(struct ip_addr *ip, __u32 w0, __u32 w1, __u32 w2, __u32 w3)
{
	if (w0 == 0 && w1 == 0 && w2 == bpf_htonl(0xffff)) {
		ip_from_v4(ip, w3);
		return;
	}
	ip->family = 6;
	ip->w[0] = w0;
	ip->w[1] = w1;
	ip->w[2] = w2;
	ip->w[3] = w3;
}

static __always_inline void ip_copy(__u8 *dst, const struct ip_addr *ip)
{
	__builtin_memcpy(dst, ip->w, 16);
}

/* This host: loopback (127/8, ::1), the unspecified address (Linux connects it to the host
 * itself), or an address user space listed in local_addrs. */
static __always_inline int ip_is_local(const struct ip_addr *ip)
{
	struct tether_addr_key key = { .family = ip->family };

	if (ip->family == 4) {
		if ((bpf_ntohl(ip->w[0]) >> 24) == 127 || ip->w[0] == 0)
			return 1;
	} else if ((ip->w[0] | ip->w[1] | ip->w[2]) == 0 && (ip->w[3] == 0 || ip->w[3] == bpf_htonl(1))) {
		return 1;
	}
	ip_copy(key.addr, ip);
	return bpf_map_lookup_elem(&local_addrs, &key) != 0;
}

#endif /* TETHER_LIB_SOCK_ADDR_H */
