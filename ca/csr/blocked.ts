/**
 * The key checks that need the database: a CSR for the CA's own public key (someone hoping for a certificate
 * that shares the CA's key) or for a key we have already seen revoked for keyCompromise is refused as weak_key.
 * The issuance service injects the lookups; keys are compared by ParsedCsr.publicKey.spkiSha256.
 */
import { weakKey } from './errors.ts';

export interface KeyBlockLookups {
  /** True when the hash is the SPKI SHA-256 of any CA key we hold (current, rolled over, root). */
  isCaKey(spkiSha256: string): boolean | Promise<boolean>;
  /** True when a certificate for this key was revoked with reason keyCompromise. */
  isCompromised(spkiSha256: string): Promise<boolean>;
}

export async function checkKeyNotBlocked(spkiSha256: string, deps: KeyBlockLookups): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(spkiSha256)) throw new TypeError('checkKeyNotBlocked: expected a lowercase hex SHA-256');
  if (await deps.isCaKey(spkiSha256)) throw weakKey('this public key belongs to the CA and cannot be certified');
  if (await deps.isCompromised(spkiSha256)) throw weakKey('this public key was revoked for keyCompromise and cannot be certified again');
}
