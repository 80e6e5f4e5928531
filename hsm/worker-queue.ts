/**
 * A session worker's own queue: the operations the pool has handed it (up to pipelineDepth), taken lowest rank
 * first and in arrival order within a rank. The pool's priority queues order what waits for a worker; this orders
 * what already reached one, so a deep pipeline of bulk work (issuance, time-stamp tokens) does not hold back an
 * OCSP or CRL signature handed over after it.
 */
import type { WireOp } from './pool-protocol.ts';

export class WorkerQueue {
  private items: WireOp[] = [];

  get length(): number {
    return this.items.length;
  }

  push(op: WireOp): void {
    let i = this.items.length;
    // Almost always appends: one rank at a time is the common case.
    while (i > 0 && this.items[i - 1]!.rank > op.rank) i--;
    if (i === this.items.length) this.items.push(op);
    else this.items.splice(i, 0, op);
  }

  shift(): WireOp | undefined {
    return this.items.shift();
  }

  /** Empties the queue, returning what it held in the order it would have run. */
  takeAll(): WireOp[] {
    const all = this.items;
    this.items = [];
    return all;
  }
}
