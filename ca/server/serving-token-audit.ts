/**
 * HSM failover on the audit record: the session pool moves signing to the DR token (and back) on its own; this
 * watcher notices when the token that serves changes and appends `hsm.serving` (from, to) to the audit log, so an
 * operator can prove when the CA signed with which token. A failed append is retried at the next tick: the change
 * is recorded late rather than never.
 */
import type { AuditEvent } from '../audit/index.ts';

export interface ServingTokenAuditOptions {
  /** The token serving now ('primary', 'dr'), undefined when none can. */
  serving: () => string | undefined;
  append: (event: AuditEvent) => Promise<unknown>;
  intervalMs: number;
  onChange?: (from: string | undefined, to: string | undefined) => void;
}

export class ServingTokenAudit {
  private recorded: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;

  constructor(private readonly o: ServingTokenAuditOptions) {
    // What serves at start is the baseline, not a switch.
    this.recorded = o.serving();
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.o.intervalMs);
    this.timer.unref();
  }

  /** One look; resolves once a change seen now is recorded (or its append failed). */
  async check(): Promise<void> {
    if (this.busy) return this.busy;
    const now = this.o.serving();
    if (now === this.recorded) return;
    const from = this.recorded;
    this.busy = this.o
      .append({ actor: 'strongroom', action: 'hsm.serving', subject: now ?? 'none', details: { from: from ?? 'none', to: now ?? 'none' } })
      .then(() => {
        this.recorded = now;
        this.o.onChange?.(from, now);
      })
      .catch(() => undefined)
      .finally(() => (this.busy = undefined));
    return this.busy;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.busy;
  }
}
