/**
 * Typed X.509 failures. Ceremonies and issuance branch on `kind` (and on `check` / finding codes), never on
 * message text; the messages are for the operator and the transcript.
 */
export type X509ErrorKind =
  | 'der' // bytes that are not strict DER
  | 'invalid-input' // a builder was asked for something that cannot be encoded correctly
  | 'unsupported-algorithm' // an AlgorithmIdentifier we do not sign or verify with
  | 'pem'
  | 'lint' // the to-be-signed structure broke a rule: nothing was signed
  | 'signature-check'; // the HSM signed, but the result failed a post-signing check: do not publish it

export class X509Error extends Error {
  override readonly name: string = 'X509Error';
  constructor(
    readonly kind: X509ErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export type Severity = 'error' | 'warning';

/** One lint result. Errors refuse signing; warnings go into the transcript. */
export interface Finding<Code extends string = string> {
  code: Code;
  severity: Severity;
  message: string;
}

/** Thrown before signing when a lint found errors: the HSM was never asked to sign. */
export class LintError extends X509Error {
  override readonly name = 'LintError';
  constructor(readonly findings: readonly Finding[]) {
    const errors = findings.filter((f) => f.severity === 'error');
    super('lint', `refused before signing: ${errors.map((f) => `${f.code} (${f.message})`).join('; ')}`);
  }

  get codes(): string[] {
    return this.findings.map((f) => f.code);
  }
}

/** Throws LintError when any finding is an error; returns the warnings otherwise. */
export function assertNoLintErrors<F extends Finding>(findings: readonly F[]): F[] {
  if (findings.some((f) => f.severity === 'error')) throw new LintError(findings);
  return findings.filter((f) => f.severity === 'warning');
}

export type SignatureCheck =
  | 'algorithm' // the TBS names an algorithm the signer's key cannot make
  | 'reparse' // the assembled structure does not parse back
  | 'tbs-mismatch' // the signed TBS is not byte for byte the linted one
  | 'algorithm-mismatch' // outer signatureAlgorithm differs from the TBS signature field
  | 'signature'; // the signature does not verify under the issuer's public key

/**
 * The signature was made (the HSM was used once) but the result is not publishable. Never retried automatically:
 * a ceremony stops and the operator decides.
 */
export class SignatureCheckError extends X509Error {
  override readonly name = 'SignatureCheckError';
  constructor(
    readonly check: SignatureCheck,
    message: string,
  ) {
    super('signature-check', message);
  }
}
