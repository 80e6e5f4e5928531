/**
 * When CRLs are made:
 * - after a revocation, debounced: the first revocation arms a timer (debounceMs) and every revocation until it
 *   fires goes into the same CRL — a burst of revocations makes one CRL, and a steady stream cannot postpone it;
 * - before the current CRL goes stale: every checkIntervalMs each issuer that still signs (active and superseded;
 *   superseded issuers keep publishing for what they issued) gets a new CRL once half of its validity has passed,
 *   and at once when it has none (at start, or after an import);
 * - a failed publication (HSM busy or down, database down) is retried after retryMs; the previous CRL stays
 *   published meanwhile.
 * - with delta CRLs on: a delta after every complete CRL (it lists what the older complete CRLs still in use do not),
 *   and at a check when the newest delta is past half its validity, older than the newest complete CRL, or missing;
 *   a failed delta is tried again at the next check.
 * One publication per issuer at a time in this process; across processes CrlStore serialises the numbering.
 * Revocation-to-publication latency is reported per revocation (onLatency, seconds).
 */
import type { CrlRow, CrlStore } from '../db/crl-store.ts';
import type { Issuer, IssuerRegistry } from '../issuance/issuer-registry.ts';
import type { CrlService } from './crl-service.ts';

export interface CrlSchedulerDeps {
  crl: Pick<CrlService, 'publish' | 'publishDelta' | 'publishesDeltas'>;
  crls: Pick<CrlStore, 'latest' | 'latestDelta'>;
  issuers: Pick<IssuerRegistry, 'all' | 'byId'>;
  clock: () => Date;
  debounceMs: number;
  checkIntervalMs: number;
  retryMs: number;
  /** Seconds from a revocation's commit to the commit of the first CRL that lists it. */
  onLatency?: (seconds: number) => void;
  onError?: (issuer: Issuer, error: unknown) => void;
}

interface State {
  timer?: NodeJS.Timeout;
  running?: Promise<CrlRow | undefined>;
  /** A publication was asked for while one was running. */
  again: boolean;
  /** performance.now() of revocations not yet in a published CRL. */
  pending: number[];
}

const halfGone = (crl: CrlRow, now: number) => now >= crl.thisUpdate.getTime() + (crl.nextUpdate.getTime() - crl.thisUpdate.getTime()) / 2;

export class CrlScheduler {
  private readonly states = new Map<number, State>();
  private interval: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: CrlSchedulerDeps) {}

  /** Publishes what is missing or due now, then keeps checking. */
  start(): Promise<void> {
    this.interval = setInterval(() => void this.check(), this.deps.checkIntervalMs);
    this.interval.unref();
    return this.check();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.interval) clearInterval(this.interval);
    for (const s of this.states.values()) if (s.timer) clearTimeout(s.timer);
    await this.checking;
    await Promise.all([...this.states.values()].map((s) => s.running?.catch(() => undefined)));
  }

  /** A certificate of this issuer was revoked (and committed): its CRL is regenerated within debounceMs. */
  revoked(caId: number): void {
    const s = this.state(caId);
    s.pending.push(performance.now());
    this.arm(caId, this.deps.debounceMs);
  }

  /** The newest CRL is due (none yet, or half its validity has passed) for every issuer that still signs. */
  check(): Promise<void> {
    this.checking ??= this.checkAll().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /** Publishes now (after any publication in progress), resolving with the CRL or undefined on failure. */
  publishNow(caId: number): Promise<CrlRow | undefined> {
    const s = this.state(caId);
    if (s.timer) {
      clearTimeout(s.timer);
      s.timer = undefined;
    }
    if (s.running) {
      s.again = true;
      // Resolves with the publication that will include everything asked for so far.
      return s.running.then(() => this.states.get(caId)?.running ?? this.publishNow(caId));
    }
    return this.run(caId, s);
  }

  private async checkAll(): Promise<void> {
    const now = this.deps.clock().getTime();
    for (const issuer of this.deps.issuers.all()) {
      if (this.stopped) return;
      let latest: CrlRow | undefined;
      try {
        latest = await this.deps.crls.latest(issuer.row.id);
      } catch (e) {
        this.deps.onError?.(issuer, e);
        continue;
      }
      if (!latest || halfGone(latest, now)) {
        // Publishes the delta too.
        await this.publishNow(issuer.row.id);
        continue;
      }
      if (!this.deps.crl.publishesDeltas) continue;
      let delta: CrlRow | undefined;
      try {
        delta = await this.deps.crls.latestDelta(issuer.row.id);
      } catch (e) {
        this.deps.onError?.(issuer, e);
        continue;
      }
      if (!delta || halfGone(delta, now) || delta.crlNumber < latest.crlNumber) await this.publishDelta(issuer);
    }
  }

  private async publishDelta(issuer: Issuer): Promise<void> {
    try {
      await this.deps.crl.publishDelta(issuer);
    } catch (e) {
      this.deps.onError?.(issuer, e);
    }
  }

  private run(caId: number, s: State): Promise<CrlRow | undefined> {
    const included = s.pending.splice(0);
    const issuer = this.deps.issuers.byId(caId);
    const work = (async () => {
      if (!issuer || this.stopped) {
        s.pending.unshift(...included);
        return undefined;
      }
      try {
        const row = await this.deps.crl.publish(issuer);
        const t = performance.now();
        for (const at of included) this.deps.onLatency?.((t - at) / 1000);
        // A relying party may still hold an older complete CRL: the delta brings it what this one added.
        if (this.deps.crl.publishesDeltas && !this.stopped) await this.publishDelta(issuer);
        return row;
      } catch (e) {
        s.pending.unshift(...included);
        this.deps.onError?.(issuer, e);
        if (s.pending.length) this.arm(caId, this.deps.retryMs);
        return undefined;
      }
    })();
    s.running = work.finally(() => {
      s.running = undefined;
      if (s.again && !this.stopped) {
        s.again = false;
        void this.run(caId, s);
      }
    });
    return s.running;
  }

  private arm(caId: number, ms: number): void {
    const s = this.state(caId);
    if (s.timer || this.stopped) return;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      void this.publishNow(caId);
    }, ms);
    s.timer.unref();
  }

  private state(caId: number): State {
    let s = this.states.get(caId);
    if (!s) this.states.set(caId, (s = { again: false, pending: [] }));
    return s;
  }
}
