/**
 * Token serial numbers from the database sequence, reserved `batch` at a time so the database is not a round trip
 * per token. Unique across restarts and instances because each reservation takes fresh values from the one
 * sequence; what an instance had reserved and not used when it stops is a gap, never a repeat. The next batch is
 * fetched when a quarter of the current one is left, so a steady stream never waits for it.
 */
export class SerialAllocator {
  private readonly free: bigint[] = [];
  private refilling: Promise<void> | undefined;

  constructor(
    private readonly reserve: (n: number) => Promise<bigint[]>,
    private readonly batch = 500,
  ) {}

  async next(): Promise<bigint> {
    for (;;) {
      if (this.free.length <= this.batch / 4) void this.refill().catch(() => undefined);
      const s = this.free.shift();
      if (s !== undefined) return s;
      // Empty: wait for the refill in flight (its failure is this caller's failure).
      await this.refill();
    }
  }

  private refill(): Promise<void> {
    this.refilling ??= this.reserve(this.batch)
      .then((serials) => {
        this.free.push(...serials);
      })
      .finally(() => (this.refilling = undefined));
    return this.refilling;
  }
}
