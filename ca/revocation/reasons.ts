/**
 * RFC 5280 §5.3.1 reason names, as the API takes them. removeFromCRL is not a reason to revoke (delta CRLs only).
 *
 * - certificateHold is refused: revocation here is permanent (there is no "unhold"), and a hold that never ends
 *   is a revocation with a misleading reason.
 * - cACompromise and aACompromise say the issuer's key is compromised: only admin clients may claim that.
 */
import type { RevocationReason } from '../x509/index.ts';

export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
  'aACompromise',
] as const satisfies readonly RevocationReason[];

export type ApiRevocationReason = (typeof REVOCATION_REASONS)[number];

export const ADMIN_ONLY_REASONS: ReadonlySet<string> = new Set(['cACompromise', 'aACompromise']);
export const REFUSED_REASONS: ReadonlySet<string> = new Set(['certificateHold']);

export function isRevocationReason(s: unknown): s is ApiRevocationReason {
  return typeof s === 'string' && (REVOCATION_REASONS as readonly string[]).includes(s);
}
