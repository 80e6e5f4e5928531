/**
 * Group commit: each caller's row is written before its call returns, yet the database sees one statement per batch
 * rather than per caller — TSA tokens, issued certificates and their audit entries, reservations, key-compromise
 * lookups. A record waits for the next flush; a flush starts once fewer than `maxConcurrent` are in flight
 * and takes up to `maxBatch` records. When the database has been idle for `delayMs` the flush starts on the next
 * turn of the event loop (a lone request is not held back); right after a flush it waits `delayMs`, so under load
 * batches grow — per-statement cost (and each commit's WAL flush) is what bounds throughput (bench/tsa-bench.ts).
 *
 * With `batchTarget`, that wait ends as soon as `batchTarget` records are queued. A fixed wait also caps throughput:
 * callers that wait for their record cannot send the next request, so a closed loop of C callers gets at most
 * C ÷ (delay + statement) records per second whatever the signer could do. The target keeps batches near the size
 * that pays on a slow machine, and stops a fast one from waiting for nothing.
 */
export interface GroupCommitOptions {
  delayMs?: number;
  maxBatch?: number;
  maxConcurrent?: number;
  batchTarget?: number;
}

interface Pending<T> {
  row: T;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class GroupCommit<T> {
  private queue: Pending<T>[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** The pending wait after a flush, which batchTarget may cut short. */
  private waiting: ReturnType<typeof setTimeout> | undefined;
  private lastFlushEnd = -Infinity;
  private readonly delayMs: number;
  private readonly maxBatch: number;
  private readonly maxConcurrent: number;
  private readonly batchTarget: number;
  /** Rows per flush, for the benchmark and metrics. */
  readonly stats = { flushes: 0, rows: 0 };

  constructor(
    private readonly insert: (rows: T[]) => Promise<void>,
    options: GroupCommitOptions = {},
  ) {
    this.delayMs = options.delayMs ?? 5;
    this.maxBatch = options.maxBatch ?? 500;
    this.maxConcurrent = options.maxConcurrent ?? 1;
    this.batchTarget = options.batchTarget ?? Infinity;
  }

  record(row: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (this.waiting !== undefined && this.queue.length >= this.batchTarget) {
        clearTimeout(this.waiting);
        this.go();
      } else this.schedule();
    });
  }

  /** The scheduled flush, run by its timer or setImmediate, or at once when batchTarget cuts the wait short. */
  private readonly go = (): void => {
    this.scheduled = false;
    this.waiting = undefined;
    this.flush();
  };

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxConcurrent || this.queue.length === 0) return;
    this.scheduled = true;
    const wait = this.delayMs - (performance.now() - this.lastFlushEnd);
    if ((this.inFlight === 0 && wait <= 0) || this.queue.length >= this.batchTarget) setImmediate(this.go);
    else this.waiting = setTimeout(this.go, Math.max(0, Math.min(this.delayMs, wait)));
  }

  private flush(): void {
    if (this.inFlight >= this.maxConcurrent || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.inFlight++;
    this.stats.flushes++;
    this.stats.rows += batch.length;
    this.insert(batch.map((p) => p.row)).then(
      () => batch.forEach((p) => p.resolve()),
      (e: unknown) => batch.forEach((p) => p.reject(e)),
    ).finally(() => {
      this.inFlight--;
      this.lastFlushEnd = performance.now();
      this.schedule();
    });
    this.schedule();
  }
}
