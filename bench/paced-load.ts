// The open-loop paced load generator of bench:ocsp, as a process of its own: latency when the responder is not
// saturated (wrk's closed loop cannot say this). Run by bench/ocsp-bench.ts (pacedLoad below); by hand:
//   node --import tsx bench/paced-load.ts '{"url":"http://127.0.0.1:8080","bodies":"/tmp/bodies","rate":5000,…}'
//
// - Each request goes on a keep-alive connection with nothing outstanding: real OCSP clients do not pipeline, and a
//   request queued behind another on one connection would count that one's service time as its own.
// - Latency runs from the moment the request is due, not from when it was written: a request that waits for a
//   connection (all busy with slow answers) counts that wait (no coordinated omission). Due means the later of
//   the schedule's time and the moment the generator's timer ran and found it due: when the generator itself was
//   late — descheduled on a shared machine, its own GC — the responder had not been asked yet. Both are reported:
//   p99 from that moment (the responder's), and p99 from the schedule alone (strict: the generator's lateness
//   included). Measured on 2 cores at half saturation, the generator's timer ran 5-12 ms late at its p99 in some
//   runs, which the strict figure charged to the responder.
// - A process of its own, with nothing in its heap but this: in the benchmark's process the generator shared a
//   70 MB heap, and its garbage-collection pauses (up to 8 ms) landed on every answer in flight.
// - A warm-up at the same rate first (fresh connections, and the code paths of both sides not yet compiled: the
//   first 300 ms of a run measured 10-30% of answers over 5 ms, later ones under 1%), not counted.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { monotonicUs, startStallCanary, type StallReport } from './machine-stalls.ts';

export interface PacedOptions {
  url: string;
  /** A file of request bodies, each preceded by its length as a 4-octet big-endian integer; sent in turn. */
  bodies: string;
  rate: number;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  /**
   * A new connection for each request, opened when it is due and closed after its answer, at most `connections` at
   * once: OpenSSL's responder answers one request per connection. The connect counts in the latency.
   */
  connectionPerRequest?: boolean;
  /** The POST's path; /ocsp unless given. */
  path?: string;
  /** Print, per 100 ms of the schedule, how many answers took over 5 ms (stderr). */
  debug?: boolean;
}

export interface PacedResult {
  rps: number;
  p50: number;
  p99: number;
  /** p99 from the schedule alone, the generator's own lateness included. */
  p99Strict: number;
  errors: number;
  /** The machine's own stalls during the measured part (bench/machine-stalls.ts); absent without cyclictest. */
  stalls?: StallReport;
  /** The generator's own CPU per request, µs, warm-up included: it shares the machine with the server. */
  generatorCpuUs: number;
}

/** Runs the generator in a child process and returns what it measured. */
export async function pacedLoad(o: PacedOptions): Promise<PacedResult> {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', import.meta.filename, JSON.stringify(o)], { maxBuffer: 1 << 20 });
  if (stderr) process.stderr.write(stderr);
  return JSON.parse(stdout) as PacedResult;
}

/** Length-prefixed bodies, as the bodies file holds them. */
export function bodiesFile(bodies: Uint8Array[]): Buffer {
  return Buffer.concat(
    bodies.flatMap((b) => {
      const n = Buffer.alloc(4);
      n.writeUInt32BE(b.length);
      return [n, Buffer.from(b)];
    }),
  );
}

function readBodies(file: string): Buffer[] {
  const all = readFileSync(file);
  const out: Buffer[] = [];
  for (let at = 0; at < all.length; ) {
    const n = all.readUInt32BE(at);
    out.push(all.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

async function main(o: PacedOptions): Promise<PacedResult> {
  const { hostname, port } = new URL(o.url);
  const bodies = readBodies(o.bodies);
  const requests = bodies.map((b) =>
    Buffer.concat([Buffer.from(`POST ${o.path ?? '/ocsp'} HTTP/1.1\r\nHost: ${hostname}\r\n${o.connectionPerRequest ? 'Connection: close\r\n' : ''}Content-Type: application/ocsp-request\r\nContent-Length: ${b.length}\r\n\r\n`, 'latin1'), b]),
  );
  const warmup = Math.floor(o.rate * o.warmupSeconds);
  const total = warmup + Math.floor(o.rate * o.seconds);
  const latencies: number[] = [];
  const strict: number[] = [];
  const slow = new Map<number, { n: number; over: number; worst: number }>();
  let errors = 0;
  const errorCodes = new Map<string, number>();
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  interface Conn {
    s: Socket;
    /** When the schedule said it was due, and when the generator found it due (the later). */
    scheduledAt: number;
    dueAt: number;
    counted: boolean;
    /** A request is out on it. */
    busy: boolean;
    established: boolean;
  }
  const idle: Conn[] = [];
  // Requests waiting for an idle connection: schedule index and the moment the generator found them due.
  const backlog: { i: number; foundAt: number }[] = [];
  let started = 0;
  let sent = 0;
  const scheduledAt = (i: number) => started + (i / o.rate) * 1000;
  const send = (c: Conn, i: number, foundAt: number) => {
    c.scheduledAt = scheduledAt(i);
    c.dueAt = Math.max(c.scheduledAt, foundAt);
    c.counted = i >= warmup;
    c.busy = true;
    c.s.write(requests[sent % requests.length]!);
    sent++;
  };
  // A connection the server closes (its keep-alive timeout: with idle connections taken last-in-first-out, some sit
  // unused for seconds in a long run) is replaced, and a request it carried counts as unanswered rather than
  // holding the run open until its timeout.
  let stopping = false;
  const all = new Set<Conn>();
  const open = (): Promise<Conn> => {
    const c: Conn = { s: connect(Number(port), hostname), scheduledAt: 0, dueAt: 0, counted: false, busy: false, established: false };
    all.add(c);
    let buf: Buffer = Buffer.alloc(0);
    c.s.setNoDelay(true);
    c.s.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const len = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      if (!/^HTTP\/1\.[01] 200/.test(head)) errors++;
      buf = buf.subarray(end + 4 + len);
      c.busy = false;
      if (c.counted) {
        const now = performance.now();
        const ms = now - c.dueAt;
        latencies.push(ms);
        strict.push(now - c.scheduledAt);
        if (o.debug) {
          const k = Math.floor((c.scheduledAt - started) / 100);
          const b = slow.get(k) ?? { n: 0, over: 0, worst: 0 };
          b.n++;
          if (ms > 5) b.over++;
          b.worst = Math.max(b.worst, ms);
          slow.set(k, b);
        }
      }
      if (++done === total) finish();
      release(c);
    });
    c.s.on('error', (e: NodeJS.ErrnoException) => { errors++; if (o.debug) errorCodes.set(e.code ?? e.message, (errorCodes.get(e.code ?? e.message) ?? 0) + 1); });
    c.s.on('close', () => {
      all.delete(c);
      if (stopping) return;
      if (o.connectionPerRequest) {
        // Closed by us after its answer, or by the server before it: either way its slot is free again.
        if (c.busy && ++done === total) finish();
        if (c.busy) errors++;
        c.busy = false;
        freeSlot();
        return;
      }
      const at = idle.indexOf(c);
      if (at >= 0) idle.splice(at, 1);
      if (c.busy && ++done === total) finish();
      // Only an established connection is replaced: a server that refuses new ones is not retried in a loop.
      if (c.established) void open().then(release, () => errors++);
    });
    return new Promise<Conn>((resolve, reject) => {
      c.s.once('connect', () => {
        c.established = true;
        resolve(c);
      });
      c.s.once('error', reject);
    });
  };
  // connectionPerRequest: how many more connections may be opened now.
  let slots = o.connections;
  const fresh = (i: number, foundAt: number) => {
    slots--;
    open().then(
      (c) => send(c, i, foundAt),
      // Its 'error' counted it; its 'close' frees the slot.
      () => {
        if (++done === total) finish();
      },
    );
  };
  const freeSlot = () => {
    slots++;
    const next = backlog.shift();
    if (next !== undefined) fresh(next.i, next.foundAt);
  };
  const release = (c: Conn) => {
    if (o.connectionPerRequest) return void c.s.destroy();
    const next = backlog.shift();
    if (next !== undefined) send(c, next.i, next.foundAt);
    else idle.push(c);
  };
  const canary = startStallCanary();
  if (!o.connectionPerRequest) idle.push(...(await Promise.all(Array.from({ length: o.connections }, open))));
  started = performance.now();
  const cpuAtStart = process.cpuUsage();
  const monotonicAtStart = monotonicUs() - started * 1000;
  // With debug: the generator's own stalls, which its latencies would count against the server.
  const loopDelay = o.debug ? monitorEventLoopDelay({ resolution: 1 }) : undefined;
  loopDelay?.enable();
  const gcPauses: number[] = [];
  const gcs = o.debug ? new PerformanceObserver((l) => gcPauses.push(...l.getEntries().map((e) => e.duration))) : undefined;
  gcs?.observe({ entryTypes: ['gc'] });
  let scheduled = 0;
  const tick = () => {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - started) / 1000) * o.rate));
    for (; scheduled < due; scheduled++) {
      if (o.connectionPerRequest) {
        if (slots > 0) fresh(scheduled, now);
        else backlog.push({ i: scheduled, foundAt: now });
        continue;
      }
      const c = idle.pop();
      if (c) send(c, scheduled, now);
      else backlog.push({ i: scheduled, foundAt: now });
    }
    if (scheduled < total) setTimeout(tick, 1);
  };
  tick();
  await Promise.race([finished, new Promise((r) => setTimeout(r, (o.warmupSeconds + o.seconds + 10) * 1000))]);
  const ended = performance.now();
  const cpu = process.cpuUsage(cpuAtStart);
  const elapsed = (ended - scheduledAt(warmup)) / 1000;
  stopping = true;
  for (const c of all) c.s.destroy();
  const stalls = await canary.stop(monotonicAtStart + scheduledAt(warmup) * 1000, monotonicAtStart + ended * 1000);
  if (o.debug) {
    const parts = [...slow].filter(([, b]) => b.over > 0).map(([k, b]) => `${k / 10}s ${b.over}/${b.n} worst ${b.worst.toFixed(1)}`);
    gcs?.disconnect();
    const worst = gcPauses.sort((a, b) => b - a).slice(0, 3).map((g) => g.toFixed(1));
    process.stderr.write(`  paced generator: event-loop delay max ${(loopDelay!.max / 1e6).toFixed(1)} ms, p99 ${(loopDelay!.percentile(99) / 1e6).toFixed(1)} ms; ${gcPauses.length} GCs, longest ${worst.join(', ')} ms\n`);
    process.stderr.write(`  paced: socket errors ${JSON.stringify([...errorCodes])}\n`);
    process.stderr.write(`  paced: schedule starts at ${(performance.timeOrigin + started).toFixed(1)} (epoch ms)\n`);
    process.stderr.write(`  paced ${o.rate.toFixed(0)}/s, 100 ms buckets with answers over 5 ms (warm-up ends at ${o.warmupSeconds}s): ${parts.join('; ')}\n`);
  }
  latencies.sort((a, b) => a - b);
  strict.sort((a, b) => a - b);
  const q = (a: number[], p: number) => a[Math.min(a.length - 1, Math.floor(p * a.length))] ?? NaN;
  const expected = total - warmup;
  return { rps: latencies.length / elapsed, p50: q(latencies, 0.5), p99: q(latencies, 0.99), p99Strict: q(strict, 0.99), errors: errors + (expected - latencies.length), generatorCpuUs: (cpu.user + cpu.system) / Math.max(1, done), ...(stalls ? { stalls } : {}) };
}

if (process.argv[1] === import.meta.filename && process.argv[2]) {
  const r = await main(JSON.parse(process.argv[2]) as PacedOptions);
  process.stdout.write(JSON.stringify(r));
  process.exit(0);
}
