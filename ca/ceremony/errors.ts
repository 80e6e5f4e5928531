/**
 * Why a ceremony refused. Every refusal names the config field it is about ("certificate.not-after: …"), so the
 * operators know which line of the reviewed YAML file to look at; the CLI turns the kind into an exit code.
 */

export type CeremonyErrorKind =
  /** The config or an input file breaks a rule (exit 2). Raised before the HSM is opened wherever possible. */
  | 'refused'
  /** The HSM holds something other than the config expects: a key with another public key, a label taken (exit 2). */
  | 'hsm-mismatch'
  /** The operators did not confirm the plan (exit 1): nothing was signed. */
  | 'cancelled'
  /** The transcript as it stands does not verify (exit 1): no ceremony appends to a broken record. */
  | 'transcript'
  /** The ceremony type exists in the config schema but is not available in this build (exit 2). */
  | 'unavailable';

export class CeremonyError extends Error {
  override readonly name = 'CeremonyError';
  constructor(
    readonly kind: CeremonyErrorKind,
    /** The config field (dotted path) the refusal is about, when there is one. */
    readonly field: string | undefined,
    message: string,
  ) {
    super(field ? `${field}: ${message}` : message);
  }
}

/** A rule broken by the config or an input: the message starts with the field. */
export function refused(field: string, message: string): CeremonyError {
  return new CeremonyError('refused', field, message);
}
