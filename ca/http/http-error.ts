/** Failures of the HTTP exchange itself (before a service is called). Translated to a status in error-response.ts. */
export type HttpErrorCode = 'bad_request' | 'unauthorized' | 'not_found' | 'method_not_allowed' | 'too_large' | 'unsupported_media_type' | 'unavailable';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    /** Seconds, for 503s. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** The one answer to a missing, malformed, unknown, revoked or expired token: nothing tells them apart. */
export const UNAUTHORIZED_MESSAGE = 'a valid bearer token is required';
