/**
 * The responder's background work: reload issuers and responder certificates, follow answers other processes
 * wrote (sync), and — in processes that sign — pre-sign what is missing or half-expired. Each runs on its own
 * timer; a failing pass is logged and retried at the next tick, never thrown.
 */
import type { OcspResponder } from './ocsp-responder.ts';

export interface ScheduleOptions {
  reloadMs: number;
  syncMs: number;
  /** 0: this process does not pre-sign (a responder with no HSM, or one of many that leave it to another). */
  presignMs: number;
  presignBatch: number;
  log?: { warn(obj: object, msg: string): void };
}

export class ResponderSchedule {
  private timers: NodeJS.Timeout[] = [];
  private running = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(
    private readonly responder: OcspResponder,
    private readonly o: ScheduleOptions,
  ) {}

  start(): void {
    this.every(this.o.reloadMs, () => this.responder.reload(), 'reloading OCSP issuers failed');
    this.every(this.o.syncMs, () => this.responder.sync(), 'following stored OCSP answers failed');
    if (this.o.presignMs > 0) this.every(this.o.presignMs, () => this.presignAll(), 'pre-signing OCSP answers failed');
  }

  /** Pre-signs until nothing is due (a freshly imported CA, or the first start after many issuances). */
  async presignAll(): Promise<number> {
    let total = 0;
    for (;;) {
      if (this.stopped) return total;
      const n = await this.responder.presignDue(this.o.presignBatch);
      total += n;
      if (n < this.o.presignBatch) return total;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await Promise.allSettled([...this.running]);
  }

  private every(ms: number, fn: () => Promise<unknown>, failure: string): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy || this.stopped) return;
      busy = true;
      const p = fn()
        .catch((err: unknown) => this.o.log?.warn({ err }, failure))
        .finally(() => {
          busy = false;
          this.running.delete(p);
        });
      this.running.add(p);
    }, ms);
    t.unref();
    this.timers.push(t);
  }
}
