/**
 * Signature verification in Node's crypto (OpenSSL), independent of the HSM that made the signature: the check
 * after signing must not trust the device it checks.
 */
import { constants, verify, type KeyObject } from 'node:crypto';
import type { SignatureAlgorithm } from '../../hsm/index.ts';
import { hashOf } from './algorithms.ts';

const SALT_LENGTH = { sha256: 32, sha384: 48, sha512: 64 } as const;

export function verifySignature(alg: SignatureAlgorithm, data: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  const hash = hashOf(alg);
  try {
    if (alg.startsWith('rsa-pss-')) {
      return verify(hash!, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: SALT_LENGTH[hash!] }, signature);
    }
    if (alg.startsWith('rsa-pkcs1-')) return verify(hash!, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    if (alg.startsWith('ecdsa-')) return verify(hash!, data, { key, dsaEncoding: 'der' }, signature);
    return verify(null, data, key, signature);
  } catch {
    // OpenSSL throws on some malformed signatures (wrong length for the key, bad DER) instead of returning false.
    return false;
  }
}
