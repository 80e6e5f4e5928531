/**
 * Per-client rate limits at the HTTP edge: a client past its bucket gets 429 rate_limited with Retry-After (whole
 * seconds, at least 1) — for its own bucket before its body is read, for a profile's bucket before any lookup.
 * RateLimited is translated in error-response.ts like every other failure.
 */
export interface RateLimits {
  /** Seconds the client must wait; 0 means go ahead (a token was spent). */
  client(client: string): number;
  profile(client: string, profile: string): number;
}

export class RateLimited extends Error {
  override readonly name = 'RateLimited';
  readonly code = 'rate_limited';
  constructor(
    message: string,
    /** Whole seconds, for Retry-After. */
    readonly retryAfter: number,
  ) {
    super(message);
  }
}

/** Throws RateLimited when `waitSeconds` says the request must wait; `onLimited` counts it first. */
export function enforceRateLimit(waitSeconds: number, what: string, onLimited: () => void): void {
  if (waitSeconds <= 0) return;
  onLimited();
  throw new RateLimited(`rate limit for ${what} exceeded; try again later`, Math.max(1, Math.ceil(waitSeconds)));
}
