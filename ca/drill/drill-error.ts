/** Why a restore drill failed, for the operator and the exit code (ca/cli/drill-command.ts maps kinds to codes). */
export type DrillErrorKind =
  | 'no-backup' // nothing to restore
  | 'damaged-backup' // a backup file that does not parse or was altered
  | 'not-scratch' // the scratch token holds keys that are not a drill's: refused before anything is restored
  | 'mismatch' // a restored key is not the backed-up key
  | 'leftover'; // a restored key could not be destroyed

export class DrillError extends Error {
  override readonly name = 'DrillError';
  constructor(
    readonly kind: DrillErrorKind,
    message: string,
  ) {
    super(message);
  }
}
