/**
 * Issuance failures as the API reports them. Codes are stable (clients branch on them); messages are safe to show
 * (they never quote the request). HTTP translation lives in one place: ca/http/error-response.ts.
 */
export type IssuanceErrorCode =
  | 'bad_csr'
  | 'weak_key'
  | 'bad_name'
  | 'forbidden_name'
  | 'unknown_profile'
  | 'forbidden_profile'
  | 'bad_validity'
  | 'too_large'
  | 'idempotency_conflict'
  | 'bad_request'
  | 'not_found'
  | 'forbidden'
  | 'no_issuer'
  | 'unavailable';

export class IssuanceError extends Error {
  override readonly name = 'IssuanceError';
  constructor(
    readonly code: IssuanceErrorCode,
    message: string,
    /** Seconds to wait before retrying, for 503s. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}
