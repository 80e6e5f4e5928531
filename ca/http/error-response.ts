/**
 * The one place where failures become HTTP answers: `{"error": {"code", "message"}}` with a stable code.
 *
 *   400 bad_csr weak_key bad_name bad_validity unknown_profile bad_request
 *   401 unauthorized (one identical body, whatever was wrong with the token)
 *   403 forbidden_name forbidden_profile forbidden
 *   404 not_found      405 method_not_allowed      409 idempotency_conflict
 *   413 too_large      415 unsupported_media_type
 *   429 rate_limited (a client past its per-client or per-profile rate) — with Retry-After
 *   503 unavailable no_issuer, and HSM busy / timeout / unavailable — with Retry-After
 *   500 internal: anything else, with a generic message; the real one goes to the log, never to the client.
 *
 * Messages of IssuanceError, CsrError and HttpError are written to be shown (fixed text, numbers, names we
 * chose); everything else is treated as internal.
 */
import { isHsmError } from '../../hsm/index.ts';
import { CsrError } from '../csr/index.ts';
import { IssuanceError } from '../issuance/issuance-error.ts';
import { HttpError, UNAUTHORIZED_MESSAGE } from './http-error.ts';
import { RateLimited } from './rate-limit.ts';

export interface ErrorAnswer {
  status: number;
  code: string;
  message: string;
  headers: Record<string, string>;
  /** The failure is ours (5xx other than a plain 503): log it with its stack. */
  internal: boolean;
}

const STATUS: Record<string, number> = {
  bad_csr: 400,
  weak_key: 400,
  bad_name: 400,
  bad_validity: 400,
  unknown_profile: 400,
  bad_request: 400,
  unauthorized: 401,
  forbidden_name: 403,
  forbidden_profile: 403,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  idempotency_conflict: 409,
  too_large: 413,
  unsupported_media_type: 415,
  unavailable: 503,
  no_issuer: 503,
};

const DEFAULT_RETRY_AFTER = 5;

export function errorAnswer(e: unknown): ErrorAnswer {
  if (e instanceof RateLimited) return { status: 429, code: e.code, message: e.message, headers: { 'Retry-After': String(e.retryAfter) }, internal: false };
  if (e instanceof IssuanceError || e instanceof HttpError || e instanceof CsrError) {
    const status = STATUS[e.code] ?? 500;
    if (status === 500) return internal();
    const headers: Record<string, string> = {};
    if (status === 503) headers['Retry-After'] = String(('retryAfter' in e ? e.retryAfter : undefined) ?? DEFAULT_RETRY_AFTER);
    if (status === 401) {
      headers['WWW-Authenticate'] = 'Bearer realm="strongroom"';
      return { status, code: 'unauthorized', message: UNAUTHORIZED_MESSAGE, headers, internal: false };
    }
    if (status === 413) headers.Connection = 'close';
    return { status, code: e.code, message: e.message, headers, internal: false };
  }
  if (isHsmError(e) && (e.kind === 'busy' || e.kind === 'timeout' || e.kind === 'unavailable')) {
    return { status: 503, code: 'unavailable', message: 'the HSM is busy or unavailable; try again', headers: { 'Retry-After': String(e.retryAfterSeconds ?? DEFAULT_RETRY_AFTER) }, internal: false };
  }
  return internal();
}

function internal(): ErrorAnswer {
  return { status: 500, code: 'internal', message: 'internal error', headers: {}, internal: true };
}

export function errorBody(a: Pick<ErrorAnswer, 'code' | 'message'>): { error: { code: string; message: string } } {
  return { error: { code: a.code, message: a.message } };
}
