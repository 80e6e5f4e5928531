// Counting for bench:soak: answers by class and success latencies per sampling window, the server's RSS from
// /proc, and a least-squares slope.
import { readdirSync, readFileSync } from 'node:fs';
import { procStat } from '../proc-cpu.ts';

export class Tally {
  readonly counts = new Map<string, number>();
  latencies: number[] = [];
  sent = 0;
  /** Arrivals the generator did not send because its own bound of outstanding requests was reached. */
  dropped = 0;

  add(cls: string, ms: number, ok: boolean): void {
    this.counts.set(cls, (this.counts.get(cls) ?? 0) + 1);
    if (ok) this.latencies.push(ms);
  }

  count(cls: string): number {
    return this.counts.get(cls) ?? 0;
  }

  answered(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  /** Classes outside `expected`, with their counts. */
  others(expected: ReadonlySet<string>): [string, number][] {
    return [...this.counts].filter(([k]) => !expected.has(k));
  }

  quantiles(): { p50: number; p99: number } {
    const s = Float64Array.from(this.latencies).sort();
    const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN);
    return { p50: q(0.5), p99: q(0.99) };
  }

  /** Adds another tally's counts (not its latencies) into this one. */
  merge(o: Tally): void {
    for (const [k, v] of o.counts) this.counts.set(k, (this.counts.get(k) ?? 0) + v);
    this.sent += o.sent;
    this.dropped += o.dropped;
  }
}

/** VmRSS of a process in bytes, from /proc/<pid>/status; undefined if it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Least-squares slope of y over x. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}

export const MiB = 1024 * 1024;

/** CPU seconds (user + system, all threads) a process has used; NaN once it is gone. */
export function cpuSecondsOf(pid: number): number {
  return (procStat(pid)?.cpuMs ?? NaN) / 1000;
}

/** The machine's CPU time so far, busy and total, in clock ticks (/proc/stat). */
export function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** The machine's count of connections dropped because a listen queue was full (TcpExt ListenOverflows). */
export function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.split(' ');
    const k = names.indexOf('ListenOverflows');
    if (k > 0) return Number(lines[i + 1]!.split(' ')[k]);
  }
  return NaN;
}

/** Connections waiting to be accepted on a listening 127.0.0.1 port (/proc/net/tcp: rx_queue of the LISTEN socket). */
export function acceptQueue(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[3] === '0A') return parseInt(f[4]!.split(':')[1]!, 16);
  }
  return NaN;
}

/** Open file descriptors of a process (sockets included). */
export function fdsOf(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}
