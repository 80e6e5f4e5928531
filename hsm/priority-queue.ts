/**
 * Bounded wait queues, one per priority. Each level has its own bound so a flood of issuance cannot crowd out
 * OCSP and CRL signing: when saturated, higher levels are always served first.
 */
export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // Compact now and then so a long-lived queue does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes every item the predicate selects, keeping order; returns them. */
  removeWhere(pred: (item: T) => boolean): T[] {
    const kept: T[] = [];
    const removed: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as T;
      (pred(item) ? removed : kept).push(item);
    }
    if (removed.length) {
      this.items = kept;
      this.head = 0;
    }
    return removed;
  }
}

export class PriorityQueue<T> {
  private readonly levels = new Map<Priority, Fifo<T>>(PRIORITIES.map((p) => [p, new Fifo<T>()]));

  constructor(private readonly limitPerLevel: number) {}

  /** False when that level is full: the caller sheds the load. */
  offer(priority: Priority, item: T): boolean {
    const q = this.levels.get(priority)!;
    if (q.length >= this.limitPerLevel) return false;
    q.push(item);
    return true;
  }

  poll(): T | undefined {
    for (const p of PRIORITIES) {
      const item = this.levels.get(p)!.shift();
      if (item !== undefined) return item;
    }
    return undefined;
  }

  size(priority?: Priority): number {
    if (priority) return this.levels.get(priority)!.length;
    let n = 0;
    for (const q of this.levels.values()) n += q.length;
    return n;
  }

  removeWhere(pred: (item: T) => boolean): T[] {
    return PRIORITIES.flatMap((p) => this.levels.get(p)!.removeWhere(pred));
  }
}
