/**
 * A token bucket: `burst` requests at once, then `ratePerSecond` on average. take() either spends one token or says
 * how long until one is there (the Retry-After a refused client is told). Time is a monotonic millisecond clock.
 */
import type { BucketConfig } from './limits-config.ts';

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly config: BucketConfig,
    now: number,
  ) {
    this.tokens = config.burst;
    this.at = now;
  }

  /** Spends a token and returns 0, or returns the seconds until one is available (nothing spent). */
  take(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return (1 - this.tokens) / this.config.ratePerSecond;
  }

  /** Whether the bucket is back to full (and so can be forgotten without changing any answer). */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.config.burst;
  }

  private refill(now: number): void {
    // A clock that steps back refills nothing rather than draining the bucket.
    const elapsed = Math.max(0, now - this.at) / 1000;
    this.tokens = Math.min(this.config.burst, this.tokens + elapsed * this.config.ratePerSecond);
    this.at = Math.max(this.at, now);
  }
}
