/**
 * The operations one session worker holds, oldest dispatched first: their ids and dispatch times in typed arrays.
 * A worker holds at most its pipeline depth, so removal shifts a few numbers. Not a Map: one that churns an entry
 * per signature is rehashed every few operations, and each retired table V8 leaves in the old generation (with the
 * dispatch times, heap numbers, it held) is garbage only a full collection reclaims (id-table.ts says what that
 * cost). Typed arrays point at nothing.
 */
export class OutstandingOps {
  private ids: Float64Array;
  private times: Float64Array;
  private count = 0;

  constructor(capacity: number) {
    this.ids = new Float64Array(Math.max(1, capacity));
    this.times = new Float64Array(Math.max(1, capacity));
  }

  get size(): number {
    return this.count;
  }

  add(id: number, at: number): void {
    if (this.count === this.ids.length) this.grow();
    this.ids[this.count] = id;
    this.times[this.count] = at;
    this.count++;
  }

  /** False when the id is not held (answered already, or never dispatched here). */
  remove(id: number): boolean {
    // Answers come back close to dispatch order: the id is usually near the front.
    for (let i = 0; i < this.count; i++) {
      if (this.ids[i] !== id) continue;
      this.ids.copyWithin(i, i + 1, this.count);
      this.times.copyWithin(i, i + 1, this.count);
      this.count--;
      return true;
    }
    return false;
  }

  /** When the oldest operation still held was dispatched; undefined when none is. */
  oldestAt(): number | undefined {
    return this.count ? this.times[0] : undefined;
  }

  /** Every id held, oldest first; and holds none afterwards. */
  drain(): number[] {
    const out = Array.from(this.ids.subarray(0, this.count));
    this.count = 0;
    return out;
  }

  private grow(): void {
    const ids = new Float64Array(this.ids.length * 2);
    const times = new Float64Array(this.times.length * 2);
    ids.set(this.ids);
    times.set(this.times);
    this.ids = ids;
    this.times = times;
  }
}
