/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Every struct, enum and constant shared between the BPF programs and user space.
 * Fixed-width fields, explicit padding, no bool/long/pointers/bitfields: the same bytes
 * in C, C++ (native/src/layout.cc) and TypeScript (agent/kernel/abi.gen.ts, generated
 * from this file's BTF by agent/kernel/gen-abi.ts).
 */
#ifndef TETHER_ABI_H
#define TETHER_ABI_H

#ifdef __cplusplus
#include <linux/types.h>
#define TETHER_ABI_ASSERT(cond) static_assert(cond, #cond)
#elif defined(__bpf__)
#define TETHER_ABI_ASSERT(cond) _Static_assert(cond, #cond)
#else
#include <linux/types.h>
#define TETHER_ABI_ASSERT(cond) _Static_assert(cond, #cond)
#endif

#define TETHER_COMM_LEN 16
#define TETHER_FILENAME_LEN 256

/* What happened to a process (not a thread: thread creation and exit are filtered in BPF). */
enum tether_proc_kind {
	TETHER_PROC_EXEC = 1,
	TETHER_PROC_FORK = 2,
	TETHER_PROC_EXIT = 3,
	TETHER_PROC_CGROUP = 4,	/* moved to another cgroup (no exec, fork or exit says so) */
};

/* Indexes of the per-CPU `proc_counters` array. */
enum tether_counter {
	TETHER_CTR_PROC_EVENTS = 0,	/* events written to the ring buffer */
	TETHER_CTR_PROC_DROPS = 1,	/* events lost: the ring buffer was full */
	TETHER_CTR_MAX = 2,
};

/* Codes of the per-CPU `errors` map: a helper or reserve that failed, by file and line. */
enum tether_err {
	TETHER_ERR_RINGBUF_FULL = 1,
	TETHER_ERR_READ_FILENAME = 2,
	TETHER_ERR_MAP_FULL = 3,
};

/* Source files that count errors (FILE_ID in each .bpf.c). */
enum tether_file_id {
	TETHER_FILE_PROC = 1,
	TETHER_FILE_SOCK = 2,
};

/* One process event. `start_ns` is the thread-group leader's task->start_boottime: with the
 * tgid it names one process for its whole life (exec keeps it), and /proc/<pid>/stat field 22
 * reports the same value in clock ticks. */
struct tether_proc_event {
	__u32 kind;		/* enum tether_proc_kind */
	__u32 tgid;
	__u32 pid;		/* the thread that caused the event */
	__u32 ppid;		/* real_parent's tgid */
	__u64 start_ns;
	__u64 parent_start_ns;	/* real_parent's leader start_boottime: exact lineage */
	__u64 cgroup_id;	/* cgroup v2 id: the inode number of its directory */
	__u64 exe_ino;
	__u64 ktime_ns;		/* bpf_ktime_get_boot_ns() when the event was made */
	__u64 lost;		/* events lost ring-wide before this one: a rise tells user space to
				 * resync without a syscall per batch */
	__u32 exe_dev;		/* super_block->s_dev: major << 20 | minor, not stat's st_dev packing */
	__u32 uid;		/* effective uid, as SO_PEERCRED reports */
	__u32 gid;		/* effective gid */
	__u32 exit_code;	/* task->exit_code on exit, 0 otherwise */
	char comm[TETHER_COMM_LEN];
	char filename[TETHER_FILENAME_LEN];	/* bprm->filename on exec, as the caller wrote it */
};
TETHER_ABI_ASSERT(sizeof(struct tether_proc_event) == 352);

/* A process's identity number as the kernel keeps it (sock.bpf.c's proc_identity, keyed by tgid):
 * valid only while the task's leader start time is `start_ns`, so a reused pid is unidentified. */
struct tether_proc_identity {
	__u32 id;		/* 0: no identity */
	__u8 coarse;		/* start_ns known to a clock tick only (a process seeded from /proc) */
	__u8 _pad[3];
	__u64 start_ns;
};
TETHER_ABI_ASSERT(sizeof(struct tether_proc_identity) == 16);

/* An executable (and optionally the effective uid) whose exec gives a process an identity in the
 * kernel, before the new program runs: what registry entries with unix:path (+ unix:uid) say. */
struct tether_exe_key {
	__u64 ino;
	__u32 dev;		/* super_block->s_dev: major << 20 | minor */
	__u32 uid;		/* effective uid, or TETHER_ANY_UID */
};
TETHER_ABI_ASSERT(sizeof(struct tether_exe_key) == 16);

#define TETHER_ANY_UID 0xffffffffu

/* One allowed (source identity, destination identity, port) of one policy generation; port 0
 * allows every port. Two generations let a new policy be written whole, then switched to at once. */
struct tether_policy_key {
	__u32 src;
	__u32 dst;
	__u16 port;		/* host order */
	__u8 generation;	/* 0 or 1: which policy this rule belongs to */
	__u8 _pad;
};
TETHER_ABI_ASSERT(sizeof(struct tether_policy_key) == 12);

/* Runtime settings of sock.bpf.c (a one-entry array): switched as a whole. */
struct tether_sock_config {
	__u8 mode;		/* enum tether_mode */
	__u8 unidentified;	/* enum tether_unidentified */
	__u8 generation;	/* the policy generation in force */
	__u8 enabled;		/* 0: no policy loaded: allow everything, report nothing */
	__u8 _pad[4];
};
TETHER_ABI_ASSERT(sizeof(struct tether_sock_config) == 8);

enum tether_mode {
	TETHER_MODE_ENFORCE = 0,
	TETHER_MODE_AUDIT = 1,
};

enum tether_unidentified {
	TETHER_UNIDENTIFIED_ALLOW = 0,
	TETHER_UNIDENTIFIED_DENY = 1,
};

/* Indexes of the per-CPU `verdicts` array. */
enum tether_verdict {
	TETHER_VERDICT_ALLOW = 0,
	TETHER_VERDICT_DENY = 1,
	TETHER_VERDICT_AUDIT = 2,	/* would have been denied; allowed in audit mode */
	TETHER_VERDICT_MAX = 3,
};

/* bpf/proc.bpf.c's load-time settings (.rodata.config, set between open and load). */
struct tether_proc_config {
	__u32 wakeup_bytes;	/* wake the consumer once this much is waiting (0: every event) */
	__u8 _pad[4];
};
TETHER_ABI_ASSERT(sizeof(struct tether_proc_config) == 8);

struct tether_err_key {
	__u16 file;		/* enum tether_file_id */
	__u16 line;
	__u32 err;		/* enum tether_err */
};
TETHER_ABI_ASSERT(sizeof(struct tether_err_key) == 8);

#endif /* TETHER_ABI_H */
