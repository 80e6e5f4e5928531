/**
 * One signature on one session: hash in Node (tokens like SoftHSM2 lack combined ECDSA-SHA mechanisms, and hashing
 * here keeps the token's work constant), C_SignInit + C_Sign, then the encoding the caller asked for.
 */
import { hash } from 'node:crypto';
import { pkcs11js, type Handle, type Pkcs11 } from './token.ts';
import { HsmError } from './errors.ts';
import { algorithmFits, SIGNATURE_ALGORITHMS, type KeyType, type SignatureAlgorithm } from './key-spec.ts';
import { ecdsaRawToDer } from './signature-encoding.ts';

const CKM_EDDSA = 0x1057;
const CKG_MGF1: Record<string, number> = { sha256: 0x2, sha384: 0x3, sha512: 0x4 };
const CKM_SHA: Record<string, number> = { sha256: pkcs11js.CKM_SHA256, sha384: pkcs11js.CKM_SHA384, sha512: pkcs11js.CKM_SHA512 };

/** DER DigestInfo prefixes (RFC 8017 §9.2 note 1): CKM_RSA_PKCS signs DigestInfo, not the bare hash. */
const DIGEST_INFO: Record<string, Buffer> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

const HASH_LEN: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

export type SignatureEncoding = 'der' | 'raw';

interface Prepared {
  mechanism: pkcs11js.Mechanism;
  input: Buffer;
}

/** Exactly the algorithms below can be prepared: anything else (a SHA-1 variant, a typo) must not reach the token. */
const KNOWN_ALGORITHMS: ReadonlySet<string> = new Set(SIGNATURE_ALGORITHMS);

export function prepare(keyType: KeyType, alg: SignatureAlgorithm, data: Uint8Array): Prepared {
  // Requests arrive as plain data (worker messages, WebCrypto algorithm names): the type alone guarantees nothing.
  if (!KNOWN_ALGORITHMS.has(alg)) throw new HsmError('bad-request', `unknown signature algorithm "${String(alg)}"`);
  if (!algorithmFits(keyType, alg)) throw new HsmError('bad-request', `a ${keyType} key cannot sign ${alg}`);
  if (alg === 'ed25519') return { mechanism: { mechanism: CKM_EDDSA }, input: Buffer.from(data) };
  const hashName = alg.slice(alg.lastIndexOf('-') + 1);
  // One-shot crypto.hash, not createHash: each Hash object is a weak handle every scavenge must process, which cost a
  // worker signing ~20k/s 0.6-1.3 ms per scavenge (--trace-gc-nvp, heap.external_weak_global_handles); now none.
  const digest = hash(hashName, data, 'buffer');
  if (alg.startsWith('ecdsa-')) return { mechanism: { mechanism: pkcs11js.CKM_ECDSA }, input: digest };
  if (alg.startsWith('rsa-pkcs1-')) return { mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS }, input: Buffer.concat([DIGEST_INFO[hashName]!, digest]) };
  return {
    mechanism: {
      mechanism: pkcs11js.CKM_RSA_PKCS_PSS,
      parameter: { type: pkcs11js.CK_PARAMS_RSA_PSS, hashAlg: CKM_SHA[hashName]!, mgf: CKG_MGF1[hashName]!, saltLen: HASH_LEN[hashName]! } as pkcs11js.RsaPSS,
    },
    input: digest,
  };
}

/** Converts the token's output to what the caller wants: DER for X.509/CMS/OCSP, raw r||s for WebCrypto. */
export function finish(keyType: KeyType, signature: Buffer, encoding: SignatureEncoding): Uint8Array {
  if (encoding === 'der' && (keyType === 'ec-p256' || keyType === 'ec-p384')) {
    return ecdsaRawToDer(signature, keyType === 'ec-p256' ? 'P-256' : 'P-384');
  }
  return signature;
}

/** Synchronous on purpose: it runs on a worker thread that owns the session, where blocking is the point. */
export function signOnSession(p: Pkcs11, session: Handle, key: Handle, keyType: KeyType, alg: SignatureAlgorithm, data: Uint8Array, encoding: SignatureEncoding, out: Buffer): Uint8Array {
  const { mechanism, input } = prepare(keyType, alg, data);
  p.C_SignInit(session, mechanism, key);
  const sig = p.C_Sign(session, input, out);
  return finish(keyType, Buffer.from(sig), encoding);
}
