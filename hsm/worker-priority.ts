/**
 * Session workers run at a lower CPU priority (a higher nice value) than the thread that feeds them. On a machine
 * with as many busy workers as cores, the feeding thread — the event loop that parses requests, dispatches
 * operations and answers — otherwise waits in the run queue behind the workers it feeds; they drain their
 * pipelines and idle while it waits. Measured on 2 cores with TSA tokens (bench/tsa-bench.ts, schedstat): main
 * thread waiting for a CPU 22-24% of the time and workers idle 16-21% at nice 0; 6-8% and 8-10% at nice 10.
 * The workers still take every cycle nobody else wants: nice is a weight, not a cap.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** Measured on 2 cores: 10 keeps the feeding thread out of the run queue; 5 halves the wait; 19 starves signing. */
export const DEFAULT_WORKER_NICE = 10;

/** Sets the calling thread's nice value (Linux: a thread has its own). */
export function niceThisThread(nice: number): void {
  if (nice === 0) return;
  try {
    // /proc/thread-self → "<pid>/task/<tid>"; setpriority(PRIO_PROCESS, tid) applies to that thread alone.
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(tid, nice);
  } catch {
    // not Linux, or no /proc: the workers run at the default priority
  }
}
