/**
 * Operations in flight, by their sequential id: a ring of slots, id modulo its size, cleared when an operation
 * leaves. Not a Map, for the garbage collector's sake: a Map that lives long and churns (an entry in and out per
 * signature) is rehashed every few operations, and V8 leaves each retired hash table in the old generation still
 * holding the entries it had. The young collector counts every pointer from the old generation as live, so each
 * operation caught in a retired table survived, and with it its caller's whole request, until the next full
 * collection: measured on the OCSP live path, ~400 KiB promoted per scavenge (3-6 ms pauses) and a full collection
 * every 1.5-2.5 s (10-20 ms pauses) at half of saturation. This ring is one array, replaced only when it grows.
 */
export class IdTable<T extends { id: number }> {
  private slots: (T | undefined)[];
  private count = 0;

  constructor(initialSize = 256) {
    let n = 1;
    while (n < initialSize) n *= 2;
    this.slots = new Array<T | undefined>(n).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  /** Ids are unique; one still present from a full lap ago grows the ring instead of being overwritten. */
  set(item: T): void {
    while (this.slots[item.id & (this.slots.length - 1)] !== undefined) this.grow();
    this.slots[item.id & (this.slots.length - 1)] = item;
    this.count++;
  }

  get(id: number): T | undefined {
    const item = this.slots[id & (this.slots.length - 1)];
    return item?.id === id ? item : undefined;
  }

  /** Removes and returns the item with this id, if present. */
  take(id: number): T | undefined {
    const i = id & (this.slots.length - 1);
    const item = this.slots[i];
    if (item?.id !== id) return undefined;
    this.slots[i] = undefined;
    this.count--;
    return item;
  }

  /** A snapshot: taking items while going through it is safe. */
  values(): T[] {
    const out: T[] = [];
    if (this.count === 0) return out;
    for (const item of this.slots) if (item !== undefined) out.push(item);
    return out;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Array<T | undefined>(old.length * 2).fill(undefined);
    for (const item of old) if (item !== undefined) this.slots[item.id & (this.slots.length - 1)] = item;
    // The old array is garbage now; emptied, it keeps nothing alive if it was already in the old generation.
    old.fill(undefined);
  }
}
