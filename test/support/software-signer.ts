// A Signer over a Node key pair, for X.509 unit tests: the HSM signing path is tested in test/hsm and by
// test/x509/hsm-sign.test.ts; here only the bytes around the signature matter. Counts its calls so tests can
// assert "signed exactly once".
import { constants, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { algorithmFits, defaultAlgorithm, type KeyType, type SignatureAlgorithm } from '../../hsm/key-spec.ts';
import type { SignOptions, Signer } from '../../hsm/signer.ts';

const SALT = { sha256: 32, sha384: 48, sha512: 64 } as const;

export function generateSoftwareKey(keyType: KeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (keyType) {
    case 'ec-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ec-p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'ed25519':
      return generateKeyPairSync('ed25519');
    default:
      return generateKeyPairSync('rsa', { modulusLength: Number(keyType.slice(4)), publicExponent: 65537 });
  }
}

export class SoftwareSigner implements Signer {
  readonly spki: Uint8Array;
  readonly algorithm: SignatureAlgorithm;
  /** Every sign() call, in order. */
  readonly calls: { data: Uint8Array; options: SignOptions }[] = [];

  constructor(
    readonly keyType: KeyType,
    readonly privateKey: KeyObject,
    readonly publicKey: KeyObject,
    algorithm?: SignatureAlgorithm,
  ) {
    this.algorithm = algorithm ?? defaultAlgorithm(keyType);
    this.spki = Uint8Array.from(publicKey.export({ format: 'der', type: 'spki' }));
  }

  static generate(keyType: KeyType, algorithm?: SignatureAlgorithm): SoftwareSigner {
    const { privateKey, publicKey } = generateSoftwareKey(keyType);
    return new SoftwareSigner(keyType, privateKey, publicKey, algorithm);
  }

  async sign(data: Uint8Array, options: SignOptions = {}): Promise<Uint8Array> {
    this.calls.push({ data: Uint8Array.from(data), options });
    const alg = options.algorithm ?? this.algorithm;
    if (!algorithmFits(this.keyType, alg)) throw new Error(`a ${this.keyType} key cannot sign ${alg}`);
    const hash = alg === 'ed25519' ? null : alg.slice(alg.lastIndexOf('-') + 1);
    const key = this.privateKey;
    if (alg.startsWith('rsa-pss-')) {
      return sign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: SALT[hash as keyof typeof SALT] });
    }
    if (alg.startsWith('ecdsa-')) return sign(hash, data, { key, dsaEncoding: options.encoding === 'raw' ? 'ieee-p1363' : 'der' });
    return sign(hash, data, key);
  }
}
