// Signing through the session pool (worker threads, SoftHSM2) with every key type and every algorithm it
// supports; each signature is checked by independent verifiers: Node's crypto and, for ECDSA, @noble/curves.
import { constants, createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256, p384 } from '@noble/curves/nist.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ecdsaDerToRaw,
  ecdsaRawToDer,
  HsmError,
  Pkcs11KeyStore,
  PoolSigner,
  SessionPool,
  type GeneratedKey,
  type KeyType,
  type SignatureAlgorithm,
} from '../../hsm/index.ts';
import { SOFTHSM_MODULE } from '../../hsm/soft-token.ts';
import { createTestToken, type TestToken } from '../support/token.ts';

const HASH_LEN = { sha256: 32, sha384: 48, sha512: 64 } as const;
type Hash = keyof typeof HASH_LEN;

const ALGORITHMS: Record<KeyType, SignatureAlgorithm[]> = {
  'ec-p256': ['ecdsa-sha256', 'ecdsa-sha384'],
  'ec-p384': ['ecdsa-sha256', 'ecdsa-sha384'],
  'rsa-2048': ['rsa-pkcs1-sha256', 'rsa-pkcs1-sha384', 'rsa-pkcs1-sha512', 'rsa-pss-sha256', 'rsa-pss-sha384', 'rsa-pss-sha512'],
  'rsa-3072': ['rsa-pkcs1-sha256', 'rsa-pkcs1-sha384', 'rsa-pkcs1-sha512', 'rsa-pss-sha256', 'rsa-pss-sha384', 'rsa-pss-sha512'],
  'rsa-4096': ['rsa-pkcs1-sha256', 'rsa-pkcs1-sha384', 'rsa-pkcs1-sha512', 'rsa-pss-sha256', 'rsa-pss-sha384', 'rsa-pss-sha512'],
  ed25519: ['ed25519'],
};
const CASES = (Object.entries(ALGORITHMS) as [KeyType, SignatureAlgorithm[]][]).flatMap(([type, algs]) => algs.map((alg) => ({ type, alg })));

let token: TestToken;
let pool: SessionPool;
const keys = new Map<KeyType, GeneratedKey>();
let otherP256: GeneratedKey;

function hashOf(alg: SignatureAlgorithm): Hash {
  return alg.slice(alg.lastIndexOf('-') + 1) as Hash;
}

function publicKey(type: KeyType): KeyObject {
  return createPublicKey({ key: keys.get(type)!.spki, format: 'der', type: 'spki' });
}

function signer(type: KeyType, algorithm?: SignatureAlgorithm): PoolSigner {
  const k = keys.get(type)!;
  return new PoolSigner(pool, { label: k.label }, type, k.spki, algorithm ? { algorithm } : {});
}

/** The uncompressed EC point, for noble. */
function ecPoint(type: 'ec-p256' | 'ec-p384'): Uint8Array {
  const jwk = publicKey(type).export({ format: 'jwk' });
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
}

/** Node's verdict on a signature, as the algorithm says it must be checked. */
function nodeVerifies(type: KeyType, alg: SignatureAlgorithm, data: Uint8Array, sig: Uint8Array, encoding: 'der' | 'ieee-p1363' = 'der'): boolean {
  const key = publicKey(type);
  if (alg === 'ed25519') return verify(null, data, key, sig);
  const hash = hashOf(alg);
  if (alg.startsWith('ecdsa-')) return verify(hash, data, { key, dsaEncoding: encoding }, sig);
  if (alg.startsWith('rsa-pss-')) return verify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[hash] }, sig);
  return verify(hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, sig);
}

beforeAll(async () => {
  token = createTestToken('signing');
  const store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: token.label }, pin: token.pin });
  try {
    for (const type of Object.keys(ALGORITHMS) as KeyType[]) keys.set(type, store.generate({ type, label: `sign-${type}` }));
    otherP256 = store.generate({ type: 'ec-p256', label: 'sign-other-p256' });
  } finally {
    store.close(); // logged out: the pool logs in for itself
  }
  pool = await SessionPool.open({
    primary: { name: 'primary', module: SOFTHSM_MODULE, token: { label: token.label }, pin: token.pin },
    workers: 2,
    pipelineDepth: 4,
    queueLimit: 256,
    deadlineMs: 20_000,
    keyHandles: 'session-copy',
  });
}, 120_000);

afterAll(async () => {
  await pool?.close();
});

describe('PoolSigner signs, and independent verifiers accept', () => {
  it('covers every key type', () => {
    expect([...keys.keys()].sort()).toEqual(Object.keys(ALGORITHMS).sort());
  });

  it.each(CASES)('$type / $alg', async ({ type, alg }) => {
    const s = signer(type, alg);
    expect(s.algorithm).toBe(alg);
    const data = randomBytes(1000);
    const sig = await s.sign(data);

    expect(nodeVerifies(type, alg, data, sig)).toBe(true);
    // A verifier that accepts anything would pass the line above: the same signature over other data must fail.
    const other = Buffer.from(data);
    other[0]! ^= 1;
    expect(nodeVerifies(type, alg, other, sig)).toBe(false);

    if (type.startsWith('rsa-')) {
      expect(sig).toHaveLength(Number(type.slice(4)) / 8);
    }
    if (alg.startsWith('rsa-pss-')) {
      // The salt is exactly the hash length: a verifier insisting on another length refuses it.
      const key = publicKey(type);
      const hash = hashOf(alg);
      expect(verify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[hash] + 1 }, sig)).toBe(false);
      expect(verify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig)).toBe(true);
    }
    if (alg.startsWith('rsa-pkcs1-')) {
      // PKCS#1 v1.5 is deterministic: a second signature is byte-identical (a PSS one never is).
      expect(Buffer.from(await s.sign(data)).equals(Buffer.from(sig))).toBe(true);
    }
    if (alg === 'ed25519') {
      expect(sig).toHaveLength(64);
      const raw = publicKey(type).export({ format: 'jwk' }).x!;
      expect(ed25519.verify(sig, data, Buffer.from(raw, 'base64url'))).toBe(true);
    }
    if (alg.startsWith('ecdsa-')) {
      const curveType = type as 'ec-p256' | 'ec-p384';
      const curve = curveType === 'ec-p256' ? p256 : p384;
      const curveName = curveType === 'ec-p256' ? 'P-256' : 'P-384';
      const size = curveType === 'ec-p256' ? 32 : 48;
      const digest = createHash(hashOf(alg)).update(data).digest();
      const point = ecPoint(curveType);
      expect(sig[0]).toBe(0x30); // DER SEQUENCE
      // noble v2: verify(signature, message, publicKey, opts). The message is hashed here (the algorithm's hash,
      // which need not be the curve's default), and the token does not normalise s, so high-S must be allowed.
      expect(curve.verify(sig, digest, point, { prehash: false, format: 'der', lowS: false })).toBe(true);
      expect(curve.verify(sig, createHash(hashOf(alg)).update(other).digest(), point, { prehash: false, format: 'der', lowS: false })).toBe(false);

      // raw r||s: the WebCrypto encoding, twice the field size; ecdsaRawToDer makes it the DER one.
      const raw = await s.sign(data, { encoding: 'raw' });
      expect(raw).toHaveLength(2 * size);
      expect(nodeVerifies(type, alg, data, raw, 'ieee-p1363')).toBe(true);
      expect(curve.verify(raw, digest, point, { prehash: false, format: 'compact', lowS: false })).toBe(true);
      const der = ecdsaRawToDer(raw, curveName);
      expect(nodeVerifies(type, alg, data, der)).toBe(true);
      expect(Buffer.from(ecdsaDerToRaw(der, curveName)).equals(Buffer.from(raw))).toBe(true);
      // and the other way: the DER signature from the pool is the same r and s as its raw form.
      expect(Buffer.from(ecdsaRawToDer(ecdsaDerToRaw(sig, curveName), curveName)).equals(Buffer.from(sig))).toBe(true);
      expect(nodeVerifies(type, alg, data, ecdsaDerToRaw(sig, curveName), 'ieee-p1363')).toBe(true);
    }
  });

  it('each key signs with its default algorithm when none is asked for', async () => {
    const defaults: Record<KeyType, SignatureAlgorithm> = {
      'ec-p256': 'ecdsa-sha256',
      'ec-p384': 'ecdsa-sha384',
      'rsa-2048': 'rsa-pkcs1-sha256',
      'rsa-3072': 'rsa-pkcs1-sha256',
      'rsa-4096': 'rsa-pkcs1-sha256',
      ed25519: 'ed25519',
    };
    for (const [type, alg] of Object.entries(defaults) as [KeyType, SignatureAlgorithm][]) {
      const s = signer(type);
      expect(s.algorithm).toBe(alg);
      const data = randomBytes(64);
      expect(nodeVerifies(type, alg, data, await s.sign(data))).toBe(true);
    }
  });

  it('many concurrent signatures on both workers all verify', async () => {
    const s = signer('ec-p256');
    const data = Array.from({ length: 64 }, (_, i) => Buffer.from(`message ${i}`));
    const sigs = await Promise.all(data.map((d, i) => s.sign(d, { priority: (['high', 'normal', 'low'] as const)[i % 3] })));
    sigs.forEach((sig, i) => expect(nodeVerifies('ec-p256', 'ecdsa-sha256', data[i]!, sig)).toBe(true));
  });
});

describe('refusals', () => {
  async function rejection(p: Promise<unknown>): Promise<HsmError> {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(HsmError);
      return e as HsmError;
    }
    throw new Error('expected the signature to be refused');
  }

  it.each([
    ['rsa-2048', 'ecdsa-sha256'],
    ['ec-p256', 'rsa-pkcs1-sha256'],
    ['ec-p384', 'ed25519'],
    ['ed25519', 'rsa-pss-sha256'],
    ['rsa-4096', 'ed25519'],
  ] as [KeyType, SignatureAlgorithm][])('a %s key asked for %s: bad-request', async (type, alg) => {
    // Refused at construction ...
    expect(() => signer(type, alg)).toThrow(expect.objectContaining({ kind: 'bad-request' }));
    // ... and per operation.
    const err = await rejection(signer(type).sign(Buffer.from('x'), { algorithm: alg }));
    expect(err.kind).toBe('bad-request');
    expect(err.retryAfterSeconds).toBeUndefined();
  });

  it('the token decides the key type: a signer that claims an RSA key is EC cannot make it sign ECDSA', async () => {
    const rsa = keys.get('rsa-2048')!;
    const liar = new PoolSigner(pool, { label: rsa.label }, 'ec-p256', rsa.spki);
    const err = await rejection(liar.sign(Buffer.from('x')));
    expect(err.kind).toBe('bad-request');
    expect(err.message).toMatch(/rsa-2048 key cannot sign ecdsa-sha256/);
  });

  it('an algorithm Strongroom does not know is refused, never approximated', async () => {
    for (const alg of ['ecdsa-sha1', 'rsa-pkcs1-md5', 'rsa-pss-sha1', 'rsa-foo-sha256']) {
      const type = alg.startsWith('ecdsa') ? 'ec-p256' : 'rsa-2048';
      const k = keys.get(type)!;
      const err = await rejection(pool.sign({ key: { label: k.label }, algorithm: alg as SignatureAlgorithm, data: Buffer.from('x') }));
      expect(err.kind, alg).toBe('bad-request');
      expect(err.message).toBe(`unknown signature algorithm "${alg}"`);
    }
  });

  it('a signer expecting another public key (another key of the same type) is refused: key-mismatch', async () => {
    const p256 = keys.get('ec-p256')!;
    const wrong = new PoolSigner(pool, { label: p256.label }, 'ec-p256', otherP256.spki);
    const err = await rejection(wrong.sign(Buffer.from('x')));
    expect(err.kind).toBe('key-mismatch');
    // The right signer still works: nothing was poisoned.
    const data = Buffer.from('still fine');
    expect(nodeVerifies('ec-p256', 'ecdsa-sha256', data, await signer('ec-p256').sign(data))).toBe(true);
    expect(pool.health().ready).toBe(true);
  });

  it('a key that is not on the token: key-not-found', async () => {
    const p256 = keys.get('ec-p256')!;
    const err = await rejection(new PoolSigner(pool, { label: 'no-such-key' }, 'ec-p256', p256.spki).sign(Buffer.from('x')));
    expect(err.kind).toBe('key-not-found');
  });
});
