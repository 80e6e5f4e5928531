/**
 * Phases measured in turns: every round runs each phase for a short slice, and a phase's figures add up its slices.
 * On a shared machine a neighbour's burst lands on whichever phase is running; one long phase after another turns
 * that into a ratio off by ±10% from run to run, while slices spread it over all phases alike.
 *
 * A slice is a closed loop of `concurrency` callers. Only operations that finish inside its counted window count:
 * the first `settleMs` (the loop filling the pipeline, a group commit's first wait) and whatever finishes after the
 * window (the loop draining) are left out, so a phase with a longer pipeline is not charged for filling and
 * emptying it more often than it would be in one long run.
 */
export interface Phase {
  name: string;
  op: () => Promise<unknown>;
  /** Called around each whole slice (filling and draining included), to read CPU and the like. */
  around?: { before(): void; after(): void };
}

export interface PhaseResult {
  /** Operations that finished inside the counted windows. */
  ops: number;
  /** All that finished, windows or not: what the CPU read around the slices paid for. */
  completed: number;
  errors: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
}

export async function interleave(phases: Phase[], o: { rounds: number; sliceSeconds: number; concurrency: number; settleMs: number }): Promise<Map<string, PhaseResult>> {
  const acc = new Map<string, { ops: number; completed: number; errors: number; ms: number; latencies: number[] }>();
  for (const p of phases) acc.set(p.name, { ops: 0, completed: 0, errors: 0, ms: 0, latencies: [] });
  for (let r = 0; r < o.rounds; r++) {
    for (const p of phases) {
      const a = acc.get(p.name)!;
      p.around?.before();
      const start = performance.now();
      const from = start + o.settleMs;
      const until = start + o.sliceSeconds * 1000;
      await Promise.all(
        Array.from({ length: o.concurrency }, async () => {
          while (performance.now() < until) {
            const t0 = performance.now();
            let ok = true;
            try {
              await p.op();
            } catch {
              ok = false;
            }
            const t1 = performance.now();
            if (ok) a.completed++;
            if (t1 < from || t1 > until) continue;
            if (!ok) a.errors++;
            else {
              a.ops++;
              if ((a.ops & 7) === 0) a.latencies.push(t1 - t0);
            }
          }
        }),
      );
      a.ms += until - from;
      p.around?.after();
    }
  }
  const out = new Map<string, PhaseResult>();
  for (const [name, a] of acc) {
    a.latencies.sort((x, y) => x - y);
    const pct = (q: number) => a.latencies[Math.min(a.latencies.length - 1, Math.floor(q * a.latencies.length))] ?? 0;
    out.set(name, { ops: a.ops, completed: a.completed, errors: a.errors, perSecond: (a.ops * 1000) / a.ms, p50ms: pct(0.5), p99ms: pct(0.99) });
  }
  return out;
}
