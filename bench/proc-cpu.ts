/**
 * CPU time from /proc, for the benchmarks: utime + stime of a process (all its threads) or of one thread, in ms.
 * /proc counts in USER_HZ ticks, 100 per second on Linux whatever the kernel's own tick rate.
 */
import { readdirSync, readFileSync } from 'node:fs';

const MS_PER_TICK = 10;

/** `path`: a pid, 'self', or "PID/task/TID". The command name and CPU ms; undefined once the process is gone. */
export function procStat(path: number | string): { name: string; cpuMs: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${path}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The name is in parentheses and may hold spaces; the fields after it are space-separated.
  const close = stat.lastIndexOf(')');
  const f = stat.slice(close + 2).split(' ');
  return { name: stat.slice(stat.indexOf('(') + 1, close), cpuMs: (Number(f[11]) + Number(f[12])) * MS_PER_TICK };
}

/** CPU ms of every process on this machine whose command name starts with `prefix` (e.g. PostgreSQL's backends). */
export function processesCpuMs(prefix: string): number {
  let sum = 0;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const st = procStat(p);
    if (st?.name.startsWith(prefix)) sum += st.cpuMs;
  }
  return sum;
}

/** The whole machine's CPU ticks so far, all cores: total and idle (idle + iowait), from /proc/stat. */
export function machineTicks(): { total: number; idle: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, idle: f[3]! + f[4]! };
}

/** Share of the machine's CPU time left idle between two machineTicks() readings. */
export function idleShare(a: { total: number; idle: number }, b: { total: number; idle: number }): number {
  return (b.idle - a.idle) / Math.max(1, b.total - a.total);
}

/** Every thread of these processes, as "PID/task/TID" paths for procStat, named as the benches print them. */
function threadsOf(pids: number[]): { path: string; name: (comm: string) => string }[] {
  const out: { path: string; name: (comm: string) => string }[] = [];
  for (const pid of pids) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone meanwhile
    }
    // Node's threads are all "node": the main thread is named by its process, the rest by thread id.
    for (const tid of tids) out.push({ path: `${pid}/task/${tid}`, name: (comm) => (tid === String(pid) ? `main:${pid}` : `${comm}:${tid}`) });
  }
  return out;
}

/** CPU ms by thread (main thread, HSM workers, libuv pool…) over these processes. */
export function cpuByThread(pids: number[]): Map<string, number> {
  const by = new Map<string, number>();
  for (const t of threadsOf(pids)) {
    const st = procStat(t.path);
    if (st) by.set(t.name(st.name), st.cpuMs);
  }
  return by;
}

/** Per thread: voluntary and involuntary context switches so far (/proc/<pid>/task/<tid>/status). */
export function switchesByThread(pids: number[]): Map<string, [number, number]> {
  const by = new Map<string, [number, number]>();
  for (const t of threadsOf(pids)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${t.path}/status`, 'utf8');
    } catch {
      continue;
    }
    const n = (k: string) => Number(new RegExp(`^${k}:\\s*(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    by.set(t.name(/^Name:\s*(.*)$/m.exec(status)?.[1] ?? '?'), [n('voluntary_ctxt_switches'), n('nonvoluntary_ctxt_switches')]);
  }
  return by;
}
