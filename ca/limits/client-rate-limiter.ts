/**
 * Per-client (and optionally per client and profile) token buckets, from limits.perClient. check() answers how
 * many seconds a request must wait (0: go ahead, a token is spent). Buckets exist only for clients that made
 * requests, and full ones are dropped as they are met, so memory follows the active clients, not the client table.
 */
import type { BucketConfig, LimitsConfig } from './limits-config.ts';
import { TokenBucket } from './token-bucket.ts';

const SWEEP_EVERY = 1024;

export class ClientRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private checks = 0;

  constructor(
    private readonly config: NonNullable<LimitsConfig['perClient']>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The client's own bucket (issuance and revocation): seconds to wait, or 0 with a token spent. */
  client(client: string): number {
    const config = Object.hasOwn(this.config.clients, client) ? this.config.clients[client] : this.config.default;
    return config ? this.take(`c\u0000${client}`, config) : 0;
  }

  /** The client's bucket for one profile, for issuance only; 0 when the profile has no limit. */
  profile(client: string, profile: string): number {
    const config = Object.hasOwn(this.config.profiles, profile) ? this.config.profiles[profile] : undefined;
    return config ? this.take(`p\u0000${client}\u0000${profile}`, config) : 0;
  }

  private take(key: string, config: BucketConfig): number {
    const t = this.now();
    if (++this.checks % SWEEP_EVERY === 0) this.sweep(t);
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = new TokenBucket(config, t)));
    return b.take(t);
  }

  private sweep(t: number): void {
    for (const [key, b] of this.buckets) if (b.full(t)) this.buckets.delete(key);
  }
}
