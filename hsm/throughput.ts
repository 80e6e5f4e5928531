/**
 * A closed-loop load generator: `concurrency` callers each issue the next operation as soon as the last one ends,
 * for `seconds`. Used by `strongroom hsm bench` and `npm run bench:hsm`.
 */
export interface Throughput {
  ops: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
}

export async function measureThroughput(op: (i: number) => Promise<unknown>, options: { seconds: number; concurrency: number; warmupSeconds?: number }): Promise<Throughput> {
  if (options.warmupSeconds) await run(op, options.warmupSeconds, options.concurrency);
  return run(op, options.seconds, options.concurrency);
}

async function run(op: (i: number) => Promise<unknown>, seconds: number, concurrency: number): Promise<Throughput> {
  const latencies: number[] = [];
  let ops = 0;
  let errors = 0;
  let i = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await op(i++);
          ops++;
          if ((ops & 7) === 0) latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { ops, errors, seconds: elapsed, perSecond: ops / elapsed, p50ms: pct(0.5), p99ms: pct(0.99) };
}
