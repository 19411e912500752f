// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Process tracking: one event per exec, fork and exit of a process (threads are filtered), so
 * user space keeps a table keyed by (tgid, start time) that is exact, not sampled. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tether_abi.h"

#define FILE_ID TETHER_FILE_PROC
#include "lib/errors.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);	/* ~12,000 events; user space may resize before load */
} proc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TETHER_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} proc_counters SEC(".maps");

/* Ring-wide count of lost events, copied into every event: user space sees a rise in the next
 * event it reads instead of asking the kernel after every batch. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} proc_lost SEC(".maps");

const volatile struct tether_proc_config proc_config SEC(".rodata.config") = {
	.wakeup_bytes = 0,
};

static __always_inline __u64 *lost_counter(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&proc_lost, &zero);
}

static __always_inline void count(__u32 idx)
{
	__u64 *n = bpf_map_lookup_elem(&proc_counters, &idx);

	if (n)
		*n += 1;
}

/* Reserve an event, or count the drop: user space resyncs from /proc when drops move. */
static __always_inline struct tether_proc_event *reserve(void)
{
	struct tether_proc_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);

	if (!e) {
		__u64 *lost = lost_counter();

		if (lost)
			__sync_fetch_and_add(lost, 1);
		count(TETHER_CTR_PROC_DROPS);
		count_error(FILE_ID, __LINE__, TETHER_ERR_RINGBUF_FULL);
		return 0;
	}
	count(TETHER_CTR_PROC_EVENTS);
	return e;
}

/* Waking the consumer costs more than the event (one wake-up per exec under a storm): wake it
 * once wakeup_bytes are waiting; user space drains the rest on a short timer and before it
 * reads the table. */
static __always_inline void submit(struct tether_proc_event *e)
{
	__u64 waiting = bpf_ringbuf_query(&proc_events, BPF_RB_AVAIL_DATA);

	bpf_ringbuf_submit(e, waiting >= proc_config.wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void fill(struct tether_proc_event *e, __u32 kind, struct task_struct *task)
{
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	__u64 *lost;

	e->kind = kind;
	e->tgid = BPF_CORE_READ(task, tgid);
	e->pid = BPF_CORE_READ(task, pid);
	e->ppid = BPF_CORE_READ(parent, tgid);
	/* de_thread() gives an exec'ing thread its leader's start time, so the leader's is the
	 * process's for its whole life; it is what /proc/<pid>/stat reports. */
	e->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	e->parent_start_ns = BPF_CORE_READ(parent, group_leader, start_boottime);
	e->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	e->exe_dev = BPF_CORE_READ(exe, f_inode, i_sb, s_dev);	/* 0 for kernel threads: no mm */
	e->exe_ino = BPF_CORE_READ(exe, f_inode, i_ino);
	e->uid = BPF_CORE_READ(task, cred, euid.val);
	e->gid = BPF_CORE_READ(task, cred, egid.val);
	e->exit_code = 0;
	e->ktime_ns = bpf_ktime_get_boot_ns();
	lost = lost_counter();
	e->lost = lost ? *lost : 0;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	e->filename[0] = 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct tether_proc_event *e = reserve();
	const char *filename;

	if (!e)
		return 0;
	fill(e, TETHER_PROC_EXEC, task);
	/* The file being exec'd, not what an interpreter line might name. */
	e->exe_dev = BPF_CORE_READ(bprm, file, f_inode, i_sb, s_dev);
	e->exe_ino = BPF_CORE_READ(bprm, file, f_inode, i_ino);
	filename = BPF_CORE_READ(bprm, filename);
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename) < 0)
		count_error(FILE_ID, __LINE__, TETHER_ERR_READ_FILENAME);
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct tether_proc_event *e;

	/* CLONE_THREAD gives the child its parent's tgid: a thread, not a process. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	e = reserve();
	if (!e)
		return 0;
	fill(e, TETHER_PROC_FORK, child);
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	struct tether_proc_event *e;

	/* Fires once per exiting thread; do_exit() decrements signal->live before the tracepoint,
	 * so only the last thread sees 0 (6.1 and 6.18 alike: 6.18's extra group_dead argument
	 * is not read, so one program fits both). */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	e = reserve();
	if (!e)
		return 0;
	fill(e, TETHER_PROC_EXIT, task);
	e->exit_code = BPF_CORE_READ(task, exit_code);
	submit(e);
	return 0;
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(handle_cgroup_move, struct cgroup *dst, const char *path, struct task_struct *task)
{
	struct tether_proc_event *e;

	/* Fired after the move, for the leader when a whole process moves; the event carries the
	 * task's cgroup v2 id whichever hierarchy the move was in. */
	e = reserve();
	if (!e)
		return 0;
	fill(e, TETHER_PROC_CGROUP, task);
	submit(e);
	return 0;
}
