import { native } from './native.js';

/** CLOCK_BOOTTIME in ns: the clock of bpf_ktime_get_boot_ns() and of task->start_boottime. */
export function bootTimeNs(): bigint {
  return native().clockBoottimeNs();
}
