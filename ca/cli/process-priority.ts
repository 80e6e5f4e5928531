/**
 * `serve ocsp --processes N`'s primary after it has forked: its main thread accepts every connection and hands it
 * to a responder (Node's cluster round-robin), so it keeps its priority; every other thread of it goes to nice 19.
 * Those are V8's helper threads, and the primary runs with V8's defaults (its command line is the user's): each
 * burst of new connections allocates in it, and when it falls idle again V8's memory reducer collects it with
 * four helper threads at normal priority — both CPUs for ~60 ms (perf, cpu-clock samples per thread), the live
 * answers of a paced bench:ocsp run 20-90 ms late in those buckets. At nice 19 they take only idle CPU, and the
 * main thread does the rest of the marking itself. The whole primary at nice 19 was measured too: new connections
 * then waited 20-185 ms under load (wrk's p99).
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

export const HELPER_THREAD_NICE = 19;

/** Sets every thread of this process but the main one to `nice` (Linux keeps a nice value per thread). Best effort. */
export function niceHelperThreads(nice: number): void {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return; // no /proc: nothing to lower
  }
  for (const tid of tids) {
    if (Number(tid) === process.pid) continue;
    try {
      setPriority(Number(tid), nice);
    } catch {
      // the thread ended meanwhile
    }
  }
}
