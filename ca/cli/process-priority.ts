/**
 * Lowers the CPU priority of every thread of this process (Linux keeps a nice value per thread; threads started
 * later inherit the main thread's). For `serve ocsp --processes N`'s primary, which only supervises once it has
 * forked: idle with the ~25 MB heap its start-up left, V8's memory reducer collected it ~16 s later — three
 * full collections of 8-24 ms on its main thread plus marking on four helper threads at normal priority, which
 * took the CPUs from the responders for 100 ms at a time (live OCSP answers 20-35 ms late at half of saturation).
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/** The supervisor's priority: it takes only CPU that no responder wants. */
export const SUPERVISOR_NICE = 19;

/** Best effort: returns how many threads took the new value (0 where there is no /proc). */
export function niceWholeProcess(nice: number): number {
  let done = 0;
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return 0;
  }
  for (const tid of tids) {
    try {
      setPriority(Number(tid), nice);
      done++;
    } catch {
      // the thread ended meanwhile
    }
  }
  return done;
}
