/**
 * Typed OCSP encoding failures. The responder maps OcspMalformed to the `malformedRequest` status and
 * OcspEncodingError to `internalError`; neither message ever contains request bytes, so both can be logged as they are.
 */

/** The request is not a well-formed DER OCSPRequest we can answer. `detail` is a fixed phrase, never input. */
export class OcspMalformed extends Error {
  override readonly name = 'OcspMalformed';
  constructor(readonly detail: string) {
    super(`malformed OCSP request: ${detail}`);
  }
}

/** The responder asked the encoder for something that cannot be encoded correctly: a bug or a bad configuration. */
export class OcspEncodingError extends Error {
  override readonly name = 'OcspEncodingError';
  constructor(message: string) {
    super(message);
  }
}
