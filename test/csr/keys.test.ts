// The subject public key: what is certified, what is weak_key, and the database-backed block list.
import { ECDH, generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkKeyNotBlocked, CsrError, parseCsr } from '../../ca/csr/index.ts';
import { bits, buildCsr, expectRefusal, int, key, nul, oid, openssl, readIn, seq, signers, spkiOf, tempDir, tlv, type CsrSpec } from './support.ts';

const RSA = '1.2.840.113549.1.1.1';
const EC = '1.2.840.10045.2.1';
const P256 = '1.2.840.10045.3.1.7';

const rsaSpki = (n: bigint, e: bigint, params: Uint8Array[] = [nul()]) => seq(seq(oid(RSA), ...params), bits(seq(int(n), int(e))));
const ecSpki = (point: Uint8Array | number[], params: Uint8Array[] = [oid(P256)]) => seq(seq(oid(EC), ...params), bits(point));
/** A real 2048-bit modulus. */
const n2048 = () => BigInt(`0x${Buffer.from(key('rsa2048').publicKey.export({ format: 'jwk' }).n!, 'base64url').toString('hex')}`);
/** An odd number of exactly `n` bits (not a real modulus: the key check comes before the signature). */
const oddOfBits = (n: number) => (1n << BigInt(n - 1)) | 0x1234567n | 1n;
const p256Point = () => {
  const jwk = key('p256').publicKey.export({ format: 'jwk' });
  return Uint8Array.from([0x04, ...Buffer.from(jwk.x!, 'base64url'), ...Buffer.from(jwk.y!, 'base64url')]);
};
/** A CSR for `spki`, signed by some other key (it never gets that far). */
const withSpki = (spki: Uint8Array, signer = signers.ecdsa(key('p256').privateKey)): CsrSpec => ({ spki, signer });

let dir: string;
beforeAll(() => {
  dir = tempDir('csr-keys');
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'k.pem']);
  openssl(dir, ['ec', '-in', 'k.pem', '-param_enc', 'explicit', '-out', 'explicit.pem']);
  openssl(dir, ['ec', '-in', 'k.pem', '-conv_form', 'compressed', '-out', 'compressed.pem']);
  for (const k of ['explicit', 'compressed']) openssl(dir, ['req', '-new', '-key', `${k}.pem`, '-subj', '/CN=svc.example', '-out', `${k}.csr`]);
});

describe('accepted keys', () => {
  it.each([
    ['P-256', { keyPair: key('p256') }, { keyType: 'ec-p256', family: 'ec', bits: 256 }],
    ['P-384', { keyPair: key('p384'), signer: signers.ecdsa(key('p384').privateKey, 'sha384') }, { keyType: 'ec-p384', family: 'ec', bits: 384 }],
    ['RSA-2048', { keyPair: key('rsa2048'), signer: signers.rsa(key('rsa2048').privateKey) }, { keyType: 'rsa-2048', family: 'rsa', bits: 2048 }],
  ] as [string, CsrSpec, object][])('%s', (_what, spec, expected) => {
    const csr = parseCsr(buildCsr(spec));
    expect(csr.publicKey).toMatchObject(expected);
    expect(csr.publicKey.spki).toEqual(spkiOf((spec.keyPair ?? key('p256')).publicKey));
  });

  it('RSA of a size no profile names (2056 bits) parses, reported by its exact size for policy to refuse', () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2056 });
    expect(parseCsr(buildCsr({ keyPair: pair, signer: signers.rsa(pair.privateKey) })).publicKey).toMatchObject({ keyType: 'rsa-2056', bits: 2056 });
  });
});

describe('weak keys (weak_key)', () => {
  const rows: [string, () => Uint8Array, RegExp][] = [
    ['RSA-1024', () => buildCsr({ keyPair: key('rsa1024'), signer: signers.rsa(key('rsa1024').privateKey) }), /1024 bits: at least 2048/],
    ['RSA of 2047 bits', () => buildCsr(withSpki(rsaSpki(oddOfBits(2047), 65537n))), /2047 bits: at least 2048/],
    ['an RSA modulus that is not a multiple of 8 bits (2052)', () => buildCsr({ keyPair: key('rsa2052'), signer: signers.rsa(key('rsa2052').privateKey) }), /2052 bits is not a whole number of octets/],
    ['RSA of 8200 bits', () => buildCsr(withSpki(rsaSpki(oddOfBits(8200), 65537n))), /8200 bits: at most 8192/],
    ['RSA with e = 3', () => buildCsr({ keyPair: key('rsa2048e3'), signer: signers.rsa(key('rsa2048e3').privateKey) }), /exponent 3/],
    ['RSA with an even e (65536)', () => buildCsr(withSpki(rsaSpki(n2048(), 65536n))), /exponent is even/],
    ['RSA with e = 2', () => buildCsr(withSpki(rsaSpki(n2048(), 2n))), /exponent is even/],
    ['RSA with e = 17', () => buildCsr(withSpki(rsaSpki(n2048(), 17n))), /must be 65537/],
    ['RSA with e = 2^32 + 1', () => buildCsr(withSpki(rsaSpki(n2048(), (1n << 32n) + 1n))), /must be 65537/],
    ['RSA with e = 1', () => buildCsr(withSpki(rsaSpki(n2048(), 1n))), /must be 65537/],
    ['RSA with an even modulus', () => buildCsr(withSpki(rsaSpki(n2048() ^ 1n, 65537n))), /modulus is even/],
    ['RSA with a negative modulus', () => buildCsr(withSpki(seq(seq(oid(RSA), nul()), bits(seq(tlv(0x02, [0x80, ...new Uint8Array(255).fill(1)]), int(65537)))))), /positive/],
    ['EC with explicit curve parameters (openssl -param_enc explicit)', () => readIn(dir, 'explicit.csr'), /explicit curve parameters/],
    ['EC with a compressed point (openssl -conv_form compressed)', () => readIn(dir, 'compressed.csr'), /compressed/],
    ['EC P-224', () => buildCsr({ keyPair: key('p224'), signer: signers.ecdsa(key('p224').privateKey) }), /P-224/],
    ['EC secp256k1', () => buildCsr({ keyPair: key('secp256k1'), signer: signers.ecdsa(key('secp256k1').privateKey) }), /secp256k1/],
    ['EC P-521 (not offered)', () => buildCsr({ keyPair: key('p521'), signer: signers.ecdsa(key('p521').privateKey, 'sha512') }), /P-521/],
    ['EC on an unknown curve OID', () => buildCsr(withSpki(ecSpki(p256Point(), [oid('1.3.36.3.3.2.8.1.1.7')]))), /1\.3\.36\.3\.3\.2\.8\.1\.1\.7 is not accepted/],
    ['EC point not on the curve', () => buildCsr(withSpki(ecSpki(p256Point().map((b, i) => (i === 64 ? b ^ 1 : b))))), /not a point on the curve/],
    ['EC point with x, y beyond the field', () => buildCsr(withSpki(ecSpki([0x04, ...new Uint8Array(64).fill(0xff)]))), /not a point on the curve/],
    ['EC compressed point (built here)', () => buildCsr(withSpki(ecSpki(ECDH.convertKey(p256Point(), 'prime256v1', undefined, undefined, 'compressed') as Buffer))), /compressed/],
    ['EC hybrid point (06)', () => buildCsr(withSpki(ecSpki([0x06, ...p256Point().subarray(1)]))), /not an uncompressed point/],
    ['EC point at infinity', () => buildCsr(withSpki(ecSpki([0x00]))), /infinity/],
    ['EC P-384-sized point under the P-256 OID', () => buildCsr(withSpki(ecSpki([0x04, ...new Uint8Array(96).fill(7)]))), /uncompressed point of the curve size/],
    ['EC without curve parameters (implicitCA)', () => buildCsr(withSpki(ecSpki(p256Point(), []))), /implicitCA/],
    ['EC with NULL curve parameters', () => buildCsr(withSpki(ecSpki(p256Point(), [nul()]))), /without a named curve/],
    ['Ed25519 (correctly self-signed)', () => buildCsr({ keyPair: key('ed25519'), signer: signers.ed25519(key('ed25519').privateKey) }), /key type not accepted: Ed25519/],
    ['Ed448', () => buildCsr(withSpki(spkiOf(key('ed448').publicKey))), /Ed448/],
    ['X25519', () => buildCsr(withSpki(spkiOf(generateKeyPairSync('x25519').publicKey))), /X25519/],
    ['an RSASSA-PSS-only RSA key', () => buildCsr({ keyPair: key('rsapss'), signer: signers.pss(key('rsapss').privateKey) }), /RSASSA-PSS/],
    ['an unknown key algorithm', () => buildCsr(withSpki(seq(seq(oid('1.2.3.4')), bits([1, 2, 3])))), /key type not accepted: 1\.2\.3\.4/],
  ];

  it.each(rows)('%s', (_what, make, why) => {
    expect(expectRefusal(make(), 'weak_key').error.message).toMatch(why);
  });

  it.each([
    ['a DSA key', () => buildCsr({ keyPair: key('dsa'), signer: signers.raw(seq(oid('2.16.840.1.101.3.4.3.2')), key('dsa').privateKey, 'sha256') }), /DSA/],
    ['RSA without NULL parameters', () => buildCsr(withSpki(rsaSpki(oddOfBits(2048), 65537n, []))), /must be NULL/],
    ['an RSA key with trailing bytes inside the BIT STRING', () => buildCsr(withSpki(seq(seq(oid(RSA), nul()), bits([...seq(int(oddOfBits(2048)), int(65537)), 0])))), /trailing/],
    ['an RSA key with a non-minimal INTEGER', () => buildCsr(withSpki(seq(seq(oid(RSA), nul()), bits(seq(int(oddOfBits(2048)), tlv(0x02, [0, 1, 0, 1])))))), /RSA public key: INTEGER not minimally encoded/],
    ['an RSA key that is not a SEQUENCE', () => buildCsr(withSpki(seq(seq(oid(RSA), nul()), bits([0x05, 0x00])))), /RSA public key/],
  ] as [string, () => Uint8Array, RegExp][])('%s is bad_csr', (_what, make, why) => {
    expect(expectRefusal(make(), 'bad_csr').error.message).toMatch(why);
  });
});

describe('checkKeyNotBlocked', () => {
  const csr = parseCsr(buildCsr());
  const hash = csr.publicKey.spkiSha256;
  const otherHash = 'ab'.repeat(32);

  it('passes a key that is neither the CA key nor compromised (sync or async lookups)', async () => {
    await expect(checkKeyNotBlocked(hash, { isCaKey: () => false, isCompromised: async () => false })).resolves.toBeUndefined();
    await expect(checkKeyNotBlocked(hash, { isCaKey: async (h) => h === otherHash, isCompromised: async (h) => h === otherHash })).resolves.toBeUndefined();
  });

  it.each([
    ['the CA key (sync lookup)', { isCaKey: (h: string) => h === hash, isCompromised: async () => false }, /belongs to the CA/],
    ['the CA key (async lookup)', { isCaKey: async (h: string) => h === hash, isCompromised: async () => false }, /belongs to the CA/],
    ['a key revoked for keyCompromise', { isCaKey: () => false, isCompromised: async (h: string) => h === hash }, /keyCompromise/],
  ])('refuses %s as weak_key', async (_what, deps, why) => {
    const e = await checkKeyNotBlocked(hash, deps).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(CsrError);
    expect((e as CsrError).code).toBe('weak_key');
    expect((e as CsrError).message).toMatch(why);
    expect((e as CsrError).message).not.toContain(hash);
  });

  it('matches the hash the CSR reports: SHA-256 of the SPKI DER, as hsm/ computes it', async () => {
    const { spkiSha256 } = await import('../../hsm/public-key.ts');
    expect(hash).toBe(spkiSha256(csr.publicKey.spki));
  });

  it('rejects a malformed hash as a programming error', async () => {
    await expect(checkKeyNotBlocked('XYZ', { isCaKey: () => false, isCompromised: async () => false })).rejects.toThrow(TypeError);
  });
});
