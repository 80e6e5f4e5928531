/**
 * Why a time-stamp request is refused, as RFC 3161 says it on the wire (PKIStatus rejection + one PKIFailureInfo
 * bit), and the one place where any failure becomes that answer. Request faults are answered HTTP 200 with the
 * rejection, as the protocol expects; overload and an unreachable HSM or database are answered HTTP 503 with
 * Retry-After and a systemFailure body, so load balancers and plain HTTP clients see it too.
 */
import { isHsmError } from '../../hsm/index.ts';

export const FAILURE_BITS = {
  badAlg: 0,
  badRequest: 2,
  badDataFormat: 5,
  timeNotAvailable: 14,
  unacceptedPolicy: 15,
  unacceptedExtension: 16,
  addInfoNotAvailable: 17,
  systemFailure: 25,
} as const;

export type FailureInfo = keyof typeof FAILURE_BITS;

export class TsaFailure extends Error {
  override readonly name = 'TsaFailure';
  constructor(
    readonly failInfo: FailureInfo,
    /** The statusString sent to the client: fixed text chosen here, never request bytes. */
    message: string,
    /** Set for a temporary condition: HTTP 503 with this Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface RejectionAnswer {
  failure: TsaFailure;
  httpStatus: 200 | 503;
  /** The failure is ours and unexpected: log it with its stack. */
  internal: boolean;
}

export function rejectionOf(e: unknown): RejectionAnswer {
  if (e instanceof TsaFailure) return { failure: e, httpStatus: e.retryAfter === undefined ? 200 : 503, internal: false };
  if (isHsmError(e) && (e.kind === 'busy' || e.kind === 'timeout' || e.kind === 'unavailable')) {
    const retryAfter = e.retryAfterSeconds ?? 5;
    return { failure: new TsaFailure('systemFailure', 'the HSM is busy or unavailable; try again later', retryAfter), httpStatus: 503, internal: false };
  }
  if (isDatabaseUnavailable(e)) {
    return { failure: new TsaFailure('systemFailure', 'the time-stamp could not be recorded; try again later', 5), httpStatus: 503, internal: false };
  }
  return { failure: new TsaFailure('systemFailure', 'system failure'), httpStatus: 200, internal: true };
}

/** Connection-level database failures (pool exhausted, refused, reset): temporary, unlike a constraint violation. */
function isDatabaseUnavailable(e: unknown): boolean {
  const err = e as { name?: string; code?: string; message?: string } | undefined;
  if (!err || typeof err !== 'object') return false;
  if (err.name === 'KnexTimeoutError') return true;
  if (typeof err.code === 'string' && (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03', '53300'].includes(err.code) || err.code.startsWith('08'))) return true;
  return /Connection terminated|connection is closed/i.test(err.message ?? '');
}
