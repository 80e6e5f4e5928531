/**
 * A WebCrypto-shaped object whose subtle.sign goes to a Signer, so @peculiar/x509 generators (and pkijs) sign in
 * the HSM. Everything else (digest, exportKey, verify, ...) is Node's own WebCrypto.
 */
import { webcrypto } from 'node:crypto';
import { HsmError } from './errors.ts';
import { keyFamily, type SignatureAlgorithm } from './key-spec.ts';
import type { Signer, SignOptions } from './signer.ts';

type Alg = { name: string; hash?: string | { name: string }; saltLength?: number };

const HASH_LEN: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

function hashName(alg: Alg, fallback: string): string {
  const h = typeof alg.hash === 'string' ? alg.hash : (alg.hash?.name ?? fallback);
  return h.toLowerCase().replace('-', '');
}

/** Maps a WebCrypto algorithm to ours; throws for anything the key cannot do. */
export function signatureAlgorithmOf(alg: Alg | string, signer: Signer): SignatureAlgorithm {
  const a: Alg = typeof alg === 'string' ? { name: alg } : alg;
  const fallbackHash = signer.algorithm.split('-').pop() ?? 'sha256';
  switch (a.name.toUpperCase()) {
    case 'ECDSA':
      return `ecdsa-${hashName(a, fallbackHash)}` as SignatureAlgorithm;
    case 'RSASSA-PKCS1-V1_5':
      return `rsa-pkcs1-${hashName(a, fallbackHash)}` as SignatureAlgorithm;
    case 'RSA-PSS': {
      const hash = hashName(a, fallbackHash);
      if (a.saltLength !== undefined && a.saltLength !== HASH_LEN[hash]) throw new HsmError('bad-request', 'RSA-PSS salt length must equal the hash length');
      return `rsa-pss-${hash}` as SignatureAlgorithm;
    }
    case 'ED25519':
      return 'ed25519';
    default:
      throw new HsmError('bad-request', `unsupported signature algorithm ${a.name}`);
  }
}

function webAlgorithm(signer: Signer): webcrypto.KeyAlgorithm & Record<string, unknown> {
  const hash = { name: `SHA-${signer.algorithm.split('sha').pop() ?? '256'}` };
  switch (keyFamily(signer.keyType)) {
    case 'ec':
      return { name: 'ECDSA', namedCurve: signer.keyType === 'ec-p256' ? 'P-256' : 'P-384', hash };
    case 'ed25519':
      return { name: 'Ed25519' };
    default:
      return signer.algorithm.startsWith('rsa-pss')
        ? { name: 'RSA-PSS', hash, saltLength: HASH_LEN[hash.name.replace('-', '').toLowerCase()] }
        : { name: 'RSASSA-PKCS1-v1_5', hash };
  }
}

export interface HsmCrypto {
  crypto: webcrypto.Crypto;
  /** A CryptoKey-shaped handle for the HSM private key: pass it as signingKey. */
  privateKey: webcrypto.CryptoKey;
  publicKey: webcrypto.CryptoKey;
}

export async function hsmCrypto(signer: Signer, options: Omit<SignOptions, 'encoding' | 'algorithm'> = {}): Promise<HsmCrypto> {
  const algorithm = webAlgorithm(signer);
  const importAlg = keyFamily(signer.keyType) === 'ec' ? { name: 'ECDSA', namedCurve: algorithm.namedCurve as string } : algorithm;
  const publicKey = await webcrypto.subtle.importKey('spki', signer.spki, importAlg as webcrypto.AlgorithmIdentifier, true, ['verify']);
  const privateKey = { type: 'private', extractable: false, algorithm, usages: ['sign'] } as unknown as webcrypto.CryptoKey;
  const sign: webcrypto.SubtleCrypto['sign'] = async (alg, key, data) => {
    if (key !== privateKey) return webcrypto.subtle.sign(alg, key, data);
    const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data as ArrayBuffer);
    // WebCrypto's ECDSA signature format is raw r||s; the X.509 library converts it to DER itself.
    const sig = await signer.sign(bytes, { ...options, algorithm: signatureAlgorithmOf(alg as Alg, signer), encoding: 'raw' });
    return sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength) as ArrayBuffer;
  };
  // Node's SubtleCrypto methods refuse any `this` but Node's own instance ("Value of "this" must be of type
  // SubtleCrypto"), so an object merely inheriting from it breaks digest, exportKey, verify...: hand out the real
  // methods bound to the real instance, and our sign.
  const subtle = new Proxy(webcrypto.subtle, {
    get(target, prop) {
      if (prop === 'sign') return sign;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const crypto = {
    subtle,
    getRandomValues: webcrypto.getRandomValues.bind(webcrypto),
    randomUUID: webcrypto.randomUUID.bind(webcrypto),
  } as webcrypto.Crypto;
  return { crypto, privateKey, publicKey };
}
