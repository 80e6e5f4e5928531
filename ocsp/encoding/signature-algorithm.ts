/**
 * The AlgorithmIdentifier DER of each signature algorithm, in the canonical CA/B Forum form (ECDSA and Ed25519
 * without parameters, RSA PKCS#1 with NULL, RSA-PSS with explicit parameters and salt = hash length). ocsp/ may not
 * import ca/x509/algorithms.ts, so the bytes are written here; a test pins them to that module's output.
 */
import type { SignatureAlgorithm } from '../../hsm/key-spec.ts';
import { fromHex } from './der-writer.ts';

const pss = (hashOid: string, salt: string) =>
  `304106092a864886f70d01010a3034a00f300d0609${hashOid}0500a11c301a06092a864886f70d010108300d0609${hashOid}0500a2030201${salt}`;

const HEX: Record<SignatureAlgorithm, string> = {
  'ecdsa-sha256': '300a06082a8648ce3d040302',
  'ecdsa-sha384': '300a06082a8648ce3d040303',
  'rsa-pkcs1-sha256': '300d06092a864886f70d01010b0500',
  'rsa-pkcs1-sha384': '300d06092a864886f70d01010c0500',
  'rsa-pkcs1-sha512': '300d06092a864886f70d01010d0500',
  'rsa-pss-sha256': pss('608648016503040201', '20'),
  'rsa-pss-sha384': pss('608648016503040202', '30'),
  'rsa-pss-sha512': pss('608648016503040203', '40'),
  ed25519: '300506032b6570',
};

/** undefined for a name that is not one of ours (a configuration typo reaching us as a string). */
export function signatureAlgorithmIdentifier(alg: SignatureAlgorithm): Uint8Array | undefined {
  const hex = Object.hasOwn(HEX, alg) ? HEX[alg] : undefined;
  return hex === undefined ? undefined : fromHex(hex);
}
