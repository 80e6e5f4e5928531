/**
 * What the responder says about a serial, from the certificate's row. The choices (documented in ocsp/README.md):
 * - a serial this issuer never reserved is `unknown` — never `good`;
 * - a row reserved right now (an issuance in flight) is `unknown` too, and is never stored: it becomes `good` the
 *   moment the certificate is committed;
 * - a row that failed after the HSM was asked to sign is `revoked` (a signature may exist, nothing was returned,
 *   and the CA will never stand behind it), revocationTime = when the serial was reserved, no reason code;
 * - a revocation wins over the row's state: time and reason as recorded.
 */
import { REVOCATION_REASON_CODES, type CertStatus, type RevocationReasonName } from './encoding/index.ts';
import type { SerialStatus } from './db/ocsp-store.ts';

export interface StatusAnswer {
  status: CertStatus;
  /** Whether the answer may be pre-signed and stored: it can only change by a revocation. */
  storable: boolean;
}

export function answerStatus(row: SerialStatus | undefined): StatusAnswer {
  if (!row) return { status: { kind: 'unknown' }, storable: false };
  if (row.revocation) {
    const reason = row.revocation.reason;
    return {
      status: { kind: 'revoked', time: row.revocation.revokedAt, ...(Object.hasOwn(REVOCATION_REASON_CODES, reason) ? { reason: reason as RevocationReasonName } : {}) },
      storable: true,
    };
  }
  switch (row.state) {
    case 'issued':
      return { status: { kind: 'good' }, storable: true };
    case 'failed':
      return { status: { kind: 'revoked', time: row.createdAt }, storable: true };
    default:
      return { status: { kind: 'unknown' }, storable: false };
  }
}
