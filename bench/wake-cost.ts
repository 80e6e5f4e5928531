// What one sleep costs on this machine: the CPU a Node thread spends on an event-loop turn that blocks ~1 ms on a
// timer and is woken, against a turn that does not block (setImmediate). On the 2-vCPU Firecracker VMs here (idle
// vCPUs halt; a bare syscall takes ~1.2 µs) that measured 42-61 µs against 15-19 µs. A live OCSP answer at a low rate
// puts three threads to sleep and wakes them (the HTTP thread for the request, the HSM worker for the signature, the
// HTTP thread for its result); in a stream, under wrk, they rarely sleep. Hence the CPU per answer at half of
// saturation, above what it is at saturation (README, bench:ocsp).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const PROBE = `
const turns = 1000;
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
(async () => {
  for (let i = 0; i < 100; i++) await new Promise((r) => setTimeout(r, 1));
  let t = cpu();
  for (let i = 0; i < turns; i++) await new Promise((r) => setTimeout(r, 1));
  const sleeping = (cpu() - t) / turns;
  t = cpu();
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
  const busy = (cpu() - t) / turns;
  process.stdout.write(JSON.stringify({ sleeping, busy }));
})();`;

export interface WakeCost {
  /** CPU µs per event-loop turn that blocks ~1 ms on a timer. */
  sleepingUs: number;
  /** CPU µs per turn that does not block. */
  busyUs: number;
}

/** Measured in a process of its own, with nothing else in it (~1.2 s). */
export async function wakeCost(): Promise<WakeCost> {
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', PROBE]);
  const r = JSON.parse(stdout) as { sleeping: number; busy: number };
  return { sleepingUs: r.sleeping, busyUs: r.busy };
}
