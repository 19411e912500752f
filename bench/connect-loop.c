// SPDX-License-Identifier: Apache-2.0
/* bench/connect-loop: the kernel side of bench/connect.ts, in C so the loop costs little besides
 * the syscalls it measures. Servers (run outside the bench cgroup) print their port, then serve
 * until killed; clients (run inside it) print one line of numbers and exit 0, or exit 1 on the
 * first failed call, saying which (EPERM: the connect hook refused it).
 *
 *   connect-loop accept             listen on 127.0.0.1:0; accept and close, forever
 *   connect-loop sink               listen on 127.0.0.1:0; per connection read to EOF, then close
 *   connect-loop connect PORT SECS [stats]
 *                                   socket+connect+close to 127.0.0.1:PORT for SECS seconds;
 *                                   prints "connects wall_ns cpu_ns". With "stats", BPF programs'
 *                                   run time is counted while it runs (BPF_ENABLE_STATS: held by
 *                                   an fd, so it ends with this process)
 *   connect-loop stream PORT BYTES CHUNK
 *                                   one connection; BYTES written in CHUNK-byte writes, then
 *                                   shutdown and wait for the sink's close; prints "bytes wall_ns cpu_ns"
 *
 * The client's close sends RST (SO_LINGER 0): no TIME_WAIT, so the ephemeral ports never run out.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "connect-loop: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* This process's user + system time, ns. */
static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static struct sockaddr_in loopback(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int listen_any(void)
{
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096))
		die("bind/listen");
	if (getsockname(fd, (struct sockaddr *)&a, &len))
		die("getsockname");
	printf("%u\n", ntohs(a.sin_port));
	fflush(stdout);
	return fd;
}

static __attribute__((noreturn)) void serve(int sink)
{
	static char buf[1 << 20];
	int lfd;

	prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
	if (getppid() == 1)
		exit(1);
	lfd = listen_any();

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		while (sink && read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
}

static int connect_to(unsigned port)
{
	struct sockaddr_in a = loopback(port);
	struct linger l = { .l_onoff = 1, .l_linger = 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)))
		die("SO_LINGER");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	return fd;
}

/* Programs' run_time_ns/run_cnt counted until this process exits (the fd is never closed). */
static void enable_bpf_stats(void)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.enable_stats.type = BPF_STATS_RUN_TIME;
	if (syscall(__NR_bpf, BPF_ENABLE_STATS, &attr, sizeof(attr)) < 0)
		die("BPF_ENABLE_STATS");
}

static int connect_loop(unsigned port, double seconds)
{
	uint64_t n = 0, t0 = now_ns(), c0 = cpu_ns(), end = t0 + (uint64_t)(seconds * 1e9), t;

	do {
		for (int i = 0; i < 64; i++, n++)
			close(connect_to(port));
		t = now_ns();
	} while (t < end);
	printf("%llu %llu %llu\n", (unsigned long long)n, (unsigned long long)(t - t0),
	       (unsigned long long)(cpu_ns() - c0));
	return 0;
}

static int stream(unsigned port, unsigned long long bytes, size_t chunk)
{
	char *buf = calloc(1, chunk);
	unsigned long long left = bytes;
	uint64_t t0, c0;
	char b;
	int fd;

	if (!buf)
		die("calloc");
	fd = connect_to(port);
	t0 = now_ns();
	c0 = cpu_ns();
	while (left > 0) {
		ssize_t w = write(fd, buf, left < chunk ? left : chunk);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		left -= (unsigned long long)w;
	}
	if (shutdown(fd, SHUT_WR))
		die("shutdown");
	if (read(fd, &b, 1) < 0) /* 0: the sink read everything and closed */
		die("read");
	printf("%llu %llu %llu\n", bytes, (unsigned long long)(now_ns() - t0), (unsigned long long)(cpu_ns() - c0));
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "accept") && argc == 2)
		serve(0);
	if (!strcmp(mode, "sink") && argc == 2)
		serve(1);
	if (!strcmp(mode, "connect") && (argc == 4 || (argc == 5 && !strcmp(argv[4], "stats")))) {
		if (argc == 5)
			enable_bpf_stats();
		return connect_loop((unsigned)atoi(argv[2]), atof(argv[3]));
	}
	if (!strcmp(mode, "stream") && argc == 5)
		return stream((unsigned)atoi(argv[2]), strtoull(argv[3], NULL, 10), (size_t)strtoull(argv[4], NULL, 10));
	fprintf(stderr, "usage: connect-loop accept | sink | connect PORT SECONDS [stats] | stream PORT BYTES CHUNK\n");
	return 2;
}
