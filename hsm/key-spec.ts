/** The key types Strongroom generates and signs with. Anything else is refused at the edge. */
export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096', 'ed25519'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** Every signature algorithm Strongroom makes, in one list: the HSM layer, X.509 and transcripts all use it. */
export const SIGNATURE_ALGORITHMS = [
  'ecdsa-sha256',
  'ecdsa-sha384',
  'rsa-pkcs1-sha256',
  'rsa-pkcs1-sha384',
  'rsa-pkcs1-sha512',
  'rsa-pss-sha256',
  'rsa-pss-sha384',
  'rsa-pss-sha512',
  'ed25519',
] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

export type KeyFamily = 'ec' | 'rsa' | 'ed25519';

export function keyFamily(type: KeyType): KeyFamily {
  if (type.startsWith('ec-')) return 'ec';
  if (type.startsWith('rsa-')) return 'rsa';
  return 'ed25519';
}

export function rsaBits(type: KeyType): number | undefined {
  return type.startsWith('rsa-') ? Number(type.slice(4)) : undefined;
}

/** DER of the named-curve OID, as CKA_EC_PARAMS carries it. */
export const EC_PARAMS: Record<'ec-p256' | 'ec-p384', string> = {
  'ec-p256': '06082a8648ce3d030107', // 1.2.840.10045.3.1.7
  'ec-p384': '06052b81040022', // 1.3.132.0.34
};
/** CKA_EC_PARAMS for Ed25519 as SoftHSM2 and PKCS#11 3.0 accept it: the printable string "edwards25519". */
export const ED25519_PARAMS = '130c656477617264733235353139';

/** The algorithm a key signs with unless the caller asks for another the key supports. */
export function defaultAlgorithm(type: KeyType): SignatureAlgorithm {
  switch (type) {
    case 'ec-p256':
      return 'ecdsa-sha256';
    case 'ec-p384':
      return 'ecdsa-sha384';
    case 'ed25519':
      return 'ed25519';
    default:
      return 'rsa-pkcs1-sha256';
  }
}

export function algorithmFits(type: KeyType, alg: SignatureAlgorithm): boolean {
  const family = keyFamily(type);
  if (family === 'ec') return alg.startsWith('ecdsa-');
  if (family === 'rsa') return alg.startsWith('rsa-');
  return alg === 'ed25519';
}
