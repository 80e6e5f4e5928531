/**
 * Anchors the audit log's hash chain with the TSA: on a schedule, the chain head (seq, hash of the last entry)
 * gets a time-stamp token whose message imprint is that entry hash — itself the SHA-256 of the entry, which names
 * its seq — and the token is stored. Each anchor proves the log held that entry at that position by genTime;
 * `strongroom audit verify` checks the tokens and uses the heads as checkpoints, so entries removed from the end
 * or rewritten before an anchor are detected. Nothing is appended to the audit log for an anchor (that would move
 * the head it records); an unchanged head is not anchored again.
 */
import type { AuditHead } from '../audit/index.ts';
import type { AuditAnchor } from '../db/audit-anchor-store.ts';
import type { IssuedToken } from './tsa-service.ts';

export interface AuditAnchorDeps {
  head: () => Promise<AuditHead>;
  latest: () => Promise<Pick<AuditAnchor, 'seq' | 'headHash'> | undefined>;
  save: (a: AuditAnchor) => Promise<void>;
  timestamp: (digest: Uint8Array) => Promise<IssuedToken>;
  intervalMs: number;
  onError?: (err: unknown) => void;
  onAnchored?: (a: AuditAnchor) => void;
}

const RETRY_MS = 60_000;

export class AuditAnchorScheduler {
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private running: Promise<AuditAnchor | undefined> | undefined;

  constructor(private readonly deps: AuditAnchorDeps) {}

  start(): void {
    void this.tick();
    this.timer ??= setInterval(() => void this.tick(), this.deps.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.retry) clearTimeout(this.retry);
    this.timer = undefined;
    this.retry = undefined;
    await this.running?.catch(() => undefined);
  }

  /** Anchors the current head now unless it is empty or already anchored; returns the new anchor. */
  anchorNow(): Promise<AuditAnchor | undefined> {
    this.running ??= (async () => {
      const head = await this.deps.head();
      if (head.seq === 0) return undefined;
      const last = await this.deps.latest();
      if (last && last.seq === head.seq && last.headHash === head.hash) return undefined;
      const token = await this.deps.timestamp(Buffer.from(head.hash, 'hex'));
      const anchor: AuditAnchor = { seq: head.seq, headHash: head.hash, tsaSerial: token.serial, genTime: token.genTime, tokenDer: token.tokenDer };
      await this.deps.save(anchor);
      this.deps.onAnchored?.(anchor);
      return anchor;
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private async tick(): Promise<void> {
    try {
      await this.anchorNow();
    } catch (err) {
      this.deps.onError?.(err);
      // A failed anchor (TSA identity not there yet, HSM down) is retried within a minute, not an interval later.
      if (this.timer && !this.retry && this.deps.intervalMs > RETRY_MS) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          void this.tick();
        }, RETRY_MS);
        this.retry.unref();
      }
    }
  }
}
