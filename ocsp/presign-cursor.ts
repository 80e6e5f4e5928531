/**
 * Which certificates a pre-signing pass looks at. A sweep (OcspStore.due) looks at every unexpired certificate,
 * which grows with the CA: ~95 ms at 100,000 certificates on the two-core VM, once a second by default. So only the
 * first pass and one every `sweepMs` sweep; the passes between look for missing answers only after a watermark
 * (OcspStore.dueSince), which moves past a certificate once a pass has seen it signed, or failed, and answered.
 *
 * The watermark is read before a pass looks, and stops below any issuance still in flight, so a certificate
 * reserved before the pass and signed after it is looked at again. It moves only after a pass that found fewer than
 * its limit and signed everything it found: what a pass could not finish is looked at again.
 */
export class PresignCursor {
  /** Every certificate up to this id has been looked at; undefined until the first sweep finished. */
  private afterId: number | undefined;
  private lastSweepMs = -Infinity;

  constructor(private readonly sweepMs: number) {}

  /** The watermark the next pass continues from, or undefined when it must sweep. */
  plan(nowMs: number): number | undefined {
    return this.afterId === undefined || nowMs - this.lastSweepMs >= this.sweepMs ? undefined : this.afterId;
  }

  /** Where the watermark read before the pass starts (0 before the first sweep). */
  get from(): number {
    return this.afterId ?? 0;
  }

  /** After a pass that found fewer than its limit and signed all of it: `watermark` was read before it looked. */
  completed(watermark: number, swept: boolean, nowMs: number): void {
    this.afterId = Math.max(this.afterId ?? 0, watermark);
    if (swept) this.lastSweepMs = nowMs;
  }
}
