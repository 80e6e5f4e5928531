// The machine's own stalls during a latency measurement, seen by a canary no process of ours can delay: cyclictest
// (Debian package rt-tests), one SCHED_FIFO thread per CPU waking every millisecond. When such a thread wakes late,
// every thread on that CPU was held too — by the hypervisor descheduling the vCPU, or by the kernel — so a paced
// run's p99 that a stall overlaps says as much about the VM as about the responder. Measured on these Firecracker
// VMs: 2-3 ms now and then while idle, and single stalls of ~100 ms during bench:ocsp.
//
// It costs each CPU ~1% (a wake-up of ~8 µs every millisecond, measured from /proc). `--laptop` leaves
// /dev/cpu_dma_latency alone: holding it at 0 would keep idle vCPUs polling and change what is being measured.
// Spike timestamps are CLOCK_MONOTONIC µs, the clock of process.hrtime. A real-time priority needs root (or
// CAP_SYS_NICE); without it cyclictest exits and the runs say "not watched".
import { spawn } from 'node:child_process';

export interface StallReport {
  /** The longest a canary thread woke late, ms, among the stalls that overlap the window (0 if none over 1 ms). */
  maxMs: number;
  /** Stalls over 5 ms that overlap the window. */
  over5ms: number;
}

export interface StallCanary {
  /**
   * Stops the canary; reports stalls overlapping [fromUs, toUs] (monotonic µs, as process.hrtime.bigint() / 1000), or
   * undefined if it did not run (not installed, or no real-time priority for it).
   */
  stop(fromUs: number, toUs: number): Promise<StallReport | undefined>;
}

export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Starts the canary. Missing, or refused a real-time priority, it prints no summary and stop() says undefined. */
export function startStallCanary(): StallCanary {
  const child = spawn('cyclictest', ['--laptop', '-m', '-q', '-S', '-p', '90', '-i', '1000', '-d', '0', '--spike=1000', '--spike-nodes=100000'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', resolve);
    child.on('error', () => resolve(-1));
  });
  return {
    async stop(fromUs, toUs) {
      child.kill('SIGINT');
      await exited;
      if (!/^T: 0 /m.test(out)) return undefined;
      let maxMs = 0;
      let over5ms = 0;
      for (const m of out.matchAll(/Spike:\s+(\d+):\s+TS:\s+(\d+)/g)) {
        const latencyUs = Number(m[1]);
        const at = Number(m[2]);
        if (at < fromUs || at - latencyUs > toUs) continue;
        maxMs = Math.max(maxMs, latencyUs / 1000);
        if (latencyUs > 5000) over5ms++;
      }
      return { maxMs, over5ms };
    },
  };
}
