/**
 * Typed HSM failures. Callers branch on `kind`, never on message text; the HTTP, OCSP and TSP layers translate
 * kinds into 503 + Retry-After, tryLater, and so on in one place each.
 */
export type HsmErrorKind =
  | 'busy' // the pool's wait queue is full: shed load now
  | 'timeout' // the operation's deadline passed (queued or at the token)
  | 'unavailable' // token down, reconnecting, or the pool is closed
  | 'auth' // PIN incorrect or locked: never retried
  | 'key-not-found'
  | 'key-mismatch' // a key on the token is not what was asked for
  | 'bad-request' // the caller asked for something impossible (unknown algorithm for the key, ...)
  | 'device'; // any other PKCS#11 failure

export class HsmError extends Error {
  override readonly name: string = 'HsmError';
  constructor(
    readonly kind: HsmErrorKind,
    message: string,
    /** The CKR_* code behind it, when there is one. */
    readonly ckr?: number,
  ) {
    super(message);
  }

  /** Seconds a caller should wait before retrying, for Retry-After; undefined when retrying will not help. */
  get retryAfterSeconds(): number | undefined {
    switch (this.kind) {
      case 'busy':
      case 'timeout':
        return 1;
      case 'unavailable':
        return 5;
      default:
        return undefined;
    }
  }
}

export class HsmBusy extends HsmError {
  override readonly name = 'HsmBusy';
  constructor(message = 'HSM pool queue is full') {
    super('busy', message);
  }
}

export class HsmTimeout extends HsmError {
  override readonly name = 'HsmTimeout';
  constructor(message = 'HSM operation deadline exceeded') {
    super('timeout', message);
  }
}

export class HsmUnavailable extends HsmError {
  override readonly name = 'HsmUnavailable';
  constructor(message = 'HSM token unavailable', ckr?: number) {
    super('unavailable', message, ckr);
  }
}

export function isHsmError(e: unknown): e is HsmError {
  return e instanceof HsmError;
}
