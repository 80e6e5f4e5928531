/**
 * The unsuccessful OCSPResponses (RFC 6960 §4.2.1): just the status, no responseBytes, nothing signed. Constant
 * bytes, shared: never mutate them.
 */
function unsuccessful(status: number): Uint8Array {
  return Uint8Array.of(0x30, 0x03, 0x0a, 0x01, status);
}

export const OCSP_MALFORMED_REQUEST = unsuccessful(1);
export const OCSP_INTERNAL_ERROR = unsuccessful(2);
export const OCSP_TRY_LATER = unsuccessful(3);
export const OCSP_SIG_REQUIRED = unsuccessful(5);
export const OCSP_UNAUTHORIZED = unsuccessful(6);
