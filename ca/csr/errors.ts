/**
 * The one failure type of CSR intake. `code` is the stable API error code; `message` is written for the client and
 * is built only from fixed text, numbers, offsets and dotted OIDs — never from the submitted bytes or strings, so
 * it can be returned (and logged) as is.
 */
export type CsrErrorCode = 'bad_csr' | 'weak_key' | 'bad_name' | 'too_large';

export class CsrError extends Error {
  override readonly name = 'CsrError';
  constructor(
    readonly code: CsrErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** 413 for an oversized body, 400 for everything else. */
  get status(): 400 | 413 {
    return this.code === 'too_large' ? 413 : 400;
  }
}

export const badCsr = (message: string) => new CsrError('bad_csr', message);
export const weakKey = (message: string) => new CsrError('weak_key', message);
export const badName = (message: string) => new CsrError('bad_name', message);
