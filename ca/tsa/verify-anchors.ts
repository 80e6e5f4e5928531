/**
 * The audit anchors as `strongroom audit verify` checks them: every token verifies (verify-token.ts) against a CA
 * certificate we hold, time-stamps exactly the anchored head hash with SHA-256, and the anchored heads are handed
 * to verifyAudit as checkpoints — each must still be in the chain at its seq.
 */
import type { AuditHead } from '../audit/index.ts';
import type { AuditAnchor } from '../db/audit-anchor-store.ts';
import { verifyTimestampToken } from './verify-token.ts';

export interface AnchorProblem {
  seq: number;
  message: string;
}

export interface AnchorCheck {
  /** Heads whose tokens verified: to be found in the log by verifyAudit. */
  checkpoints: AuditHead[];
  problems: AnchorProblem[];
  /** genTime of the newest anchor that verified. */
  latest: Date | undefined;
}

export function checkAnchors(anchors: readonly AuditAnchor[], caCertificates: readonly Uint8Array[]): AnchorCheck {
  const checkpoints: AuditHead[] = [];
  const problems: AnchorProblem[] = [];
  let latest: Date | undefined;
  for (const a of anchors) {
    try {
      const t = verifyTimestampToken(a.tokenDer, caCertificates);
      if (t.hash !== 'sha256' || Buffer.from(t.imprint).toString('hex') !== a.headHash) throw new Error(`the token time-stamps another hash than the anchored head ${a.headHash}`);
      if (t.serial !== a.tsaSerial || t.genTime.getTime() !== a.genTime.getTime()) throw new Error('the token is not the one recorded for this anchor (serial or genTime differ)');
      checkpoints.push({ seq: a.seq, hash: a.headHash });
      if (!latest || t.genTime > latest) latest = t.genTime;
    } catch (e) {
      problems.push({ seq: a.seq, message: `anchor of seq ${a.seq}: ${(e as Error).message}` });
    }
  }
  return { checkpoints, problems, latest };
}
