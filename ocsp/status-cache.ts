/**
 * Statuses that can change only by a revocation (good, revoked), remembered so that live answers (nonces, several
 * CertIDs) need no database round trip: measured, the query cost more CPU than the rest of a live answer. A
 * revocation replaces the entry in this process at once (refresh) and in others when they see its re-signed answer
 * (sync); entries also expire after ttlMs as a backstop. `unknown` (a serial not issued yet, or reserved right
 * now) is never remembered: it may become good a moment later.
 */
import type { StatusAnswer } from './answer-status.ts';

export class StatusCache {
  private readonly entries = new Map<string, { answer: StatusAnswer; until: number }>();
  /** Bumped by every forget(): a status read from the database before a revocation must not be remembered after it. */
  private epoch = 0;

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
  ) {}

  get(key: string, now: number): StatusAnswer | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return e.answer;
  }

  /** Call before reading a status from the database; pass the result to set(). */
  mark(): number {
    return this.epoch;
  }

  set(key: string, answer: StatusAnswer, now: number, mark: number): void {
    if (!answer.storable || mark !== this.epoch) return;
    this.entries.delete(key);
    this.entries.set(key, { answer, until: now + this.ttlMs });
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  forget(key: string): void {
    this.epoch++;
    this.entries.delete(key);
  }
}
