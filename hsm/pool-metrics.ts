/**
 * What the pool reports as it works. The pool calls these hooks; prom-metrics.ts implements them with prom-client.
 * Tests and benchmarks pass their own or none.
 */
import type { HsmErrorKind } from './errors.ts';
import type { Priority } from './priority-queue.ts';

export type Outcome = 'ok' | HsmErrorKind;

export interface PoolMetrics {
  /** One finished operation at the token: how long the token took. */
  operation(token: string, key: string, seconds: number, outcome: Outcome): void;
  /** Time an operation waited in the pool's queue before a worker took it. */
  queueWait(priority: Priority, seconds: number): void;
  /** A PKCS#11 failure, by CKR name. */
  ckrError(token: string, ckr: string): void;
  /** Rejected before reaching the token: busy (queue full), timeout, unavailable. */
  rejected(reason: HsmErrorKind, priority: Priority): void;
  /** Sampled gauges. */
  gauges(sample: { token: string; up: boolean; busy: number; sessions: number; queued: Record<Priority, number> }): void;
}

export const noMetrics: PoolMetrics = {
  operation() {},
  queueWait() {},
  ckrError() {},
  rejected() {},
  gauges() {},
};
