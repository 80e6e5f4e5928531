/**
 * The subject public key of a CSR: what it is, whether we certify it, and a KeyObject to verify the CSR's
 * signature with. Everything here is decided on the SPKI's own bytes before OpenSSL sees them.
 *
 * Accepted: RSA (rsaEncryption, NULL parameters) with e = 65537 and a modulus of 2048–8192 bits that is a whole
 * number of octets; EC on the named curves P-256 and P-384 with an uncompressed point on the curve.
 * Refused as weak_key: every other size, exponent, curve or encoding — explicit curve parameters, P-224,
 * secp256k1, P-521 (no profile offers it), compressed or hybrid points (RFC 5480 makes compressed optional and
 * many relying parties cannot read them; the client can always send the uncompressed form), the point at
 * infinity, points off the curve — and key types no profile offers (Ed25519, Ed448, X25519/X448, RSASSA-PSS-only
 * keys). DSA keys are refused as bad_csr: the CSR table lists them with the signature algorithms we do not accept.
 */
import { createPublicKey, hash, type JsonWebKey, type KeyObject } from 'node:crypto';
import { checkDer, expectChildren, integerOf, oidOf, tlvOf, type Tlv } from './der.ts';
import { badCsr, weakKey } from './errors.ts';

/** Strongroom's key types (hsm/KeyType minus ed25519) plus RSA of other accepted sizes, by exact modulus bits. */
export type CsrKeyType = 'ec-p256' | 'ec-p384' | `rsa-${number}`;

export interface CsrPublicKey {
  /** The SubjectPublicKeyInfo DER, exactly as in the CSR: what the certificate will carry. */
  spki: Uint8Array;
  /** `ec-p256`, `ec-p384`, or `rsa-<bits>` (rsa-2048 / rsa-3072 / rsa-4096 match the profiles' key types). */
  keyType: CsrKeyType;
  family: 'ec' | 'rsa';
  /** Modulus bits for RSA, field size for EC (256 / 384). */
  bits: number;
  /** Lowercase hex SHA-256 of the SPKI DER — the same key hash hsm/ and the database use. */
  spkiSha256: string;
}

export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 8192;

const OID_RSA = '1.2.840.113549.1.1.1';
const OID_EC = '1.2.840.10045.2.1';
const OID_DSA = '1.2.840.10040.4.1';

const CURVES: Record<string, { keyType: CsrKeyType; bits: number; crv: string } | undefined> = {
  '1.2.840.10045.3.1.7': { keyType: 'ec-p256', bits: 256, crv: 'P-256' },
  '1.3.132.0.34': { keyType: 'ec-p384', bits: 384, crv: 'P-384' },
};

const REFUSED_CURVES: Record<string, string> = {
  '1.3.132.0.33': 'P-224',
  '1.3.132.0.10': 'secp256k1',
  '1.3.132.0.35': 'P-521',
  '1.2.840.10045.3.1.1': 'P-192',
};

const OTHER_KEY_TYPES: Record<string, string> = {
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
  '1.3.101.110': 'X25519',
  '1.3.101.111': 'X448',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS (restricted RSA key)',
  '1.2.840.113549.1.1.7': 'RSAES-OAEP (restricted RSA key)',
};

export interface AnalysedKey {
  info: CsrPublicKey;
  key: KeyObject;
}

/** The SPKI TLV (already checked strict DER) → an accepted key, or CsrError weak_key / bad_csr. */
export function analysePublicKey(spki: Tlv): AnalysedKey {
  const [algId, bitString] = expectChildren(spki, 0x30, 'SubjectPublicKeyInfo', 2);
  const [algOid, params, ...extra] = expectChildren(algId!, 0x30, 'SubjectPublicKeyInfo algorithm', 1, 2);
  if (extra.length) throw badCsr('SubjectPublicKeyInfo algorithm: malformed');
  if (bitString!.tag !== 0x03) throw badCsr('SubjectPublicKeyInfo: public key is not a BIT STRING');
  if (bitString!.content[0] !== 0) throw badCsr('SubjectPublicKeyInfo: public key has unused bits');
  const keyBits = bitString!.content.subarray(1);
  const oid = oidOf(algOid!, 'SubjectPublicKeyInfo algorithm');

  let keyType: CsrKeyType;
  let family: CsrPublicKey['family'];
  let bits: number;
  let jwk: JsonWebKey;
  if (oid === OID_RSA) {
    if (!params || params.tag !== 0x05) throw badCsr('RSA public key: algorithm parameters must be NULL');
    let n: Uint8Array;
    ({ bits, n } = checkRsa(keyBits));
    // e is 65537 (checked).
    jwk = { kty: 'RSA', n: base64url(n), e: 'AQAB' };
    keyType = `rsa-${bits}`;
    family = 'rsa';
  } else if (oid === OID_EC) {
    const curve = checkEcCurve(params);
    checkEcPoint(keyBits, curve);
    const size = curve.bits / 8;
    jwk = { kty: 'EC', crv: curve.crv, x: base64url(keyBits.subarray(1, 1 + size)), y: base64url(keyBits.subarray(1 + size)) };
    ({ keyType, bits } = curve);
    family = 'ec';
  } else if (oid === OID_DSA) {
    throw badCsr('DSA keys are not accepted');
  } else {
    const name = OTHER_KEY_TYPES[oid];
    throw weakKey(`key type not accepted: ${name ?? oid}`);
  }

  // The SPKI is fully determined by the values just checked (its shape and every parameter are fixed above), so
  // the key is built from those values: OpenSSL's JWK import is several times cheaper than its DER decoder.
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    // For EC, the import refuses exactly the points off the curve and the coordinates not below the field prime.
    throw weakKey(family === 'ec' ? 'EC public key is not a point on the curve' : 'the public key cannot be used');
  }
  // Belt and braces: OpenSSL must hold the key we checked.
  const held = key.export({ format: 'jwk' });
  const same = family === 'ec' ? held.crv === jwk.crv && held.x === jwk.x && held.y === jwk.y : held.n === jwk.n && held.e === jwk.e;
  if (!same) throw weakKey('the public key is not in its canonical encoding');
  const der = Uint8Array.from(spki.bytes);
  return { info: { spki: der, keyType, family, bits, spkiSha256: hash('sha256', der, 'hex') }, key };
}

const base64url = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

/** The modulus is returned as its magnitude octets (no leading zero), as JWK writes it. */
function checkRsa(keyBits: Uint8Array): { bits: number; n: Uint8Array } {
  checkDer(keyBits, { what: 'RSA public key' });
  const outer = tlvOf(keyBits, 'RSA public key');
  if (outer.bytes.length !== keyBits.length) throw badCsr('RSA public key: trailing bytes');
  const [nTlv, eTlv] = expectChildren(outer, 0x30, 'RSA public key', 2);
  const n = integerOf(nTlv!, 'RSA modulus');
  const e = integerOf(eTlv!, 'RSA exponent');
  if (n <= 0n || e <= 0n) throw weakKey('RSA modulus and exponent must be positive');
  const bits = n.toString(2).length;
  if (bits < RSA_MIN_BITS) throw weakKey(`RSA key of ${bits} bits: at least ${RSA_MIN_BITS} are required`);
  if (bits > RSA_MAX_BITS) throw weakKey(`RSA key of ${bits} bits: at most ${RSA_MAX_BITS} are accepted`);
  if (bits % 8 !== 0) throw weakKey(`RSA modulus of ${bits} bits is not a whole number of octets`);
  if (!(n & 1n)) throw weakKey('RSA modulus is even');
  if (e === 3n) throw weakKey('RSA public exponent 3 is not accepted; use 65537');
  if (!(e & 1n)) throw weakKey('RSA public exponent is even');
  if (e !== 65537n) throw weakKey('RSA public exponent must be 65537');
  const magnitude = nTlv!.content;
  return { bits, n: magnitude[0] === 0 ? magnitude.subarray(1) : magnitude };
}

function checkEcCurve(params: Tlv | undefined) {
  if (!params) throw weakKey('EC key without curve parameters (implicitCA) is not accepted');
  if (params.tag === 0x30) throw weakKey('EC key with explicit curve parameters is not accepted; use a named curve');
  if (params.tag !== 0x06) throw weakKey('EC key without a named curve is not accepted');
  const oid = oidOf(params, 'EC curve');
  const curve = CURVES[oid];
  if (!curve) throw weakKey(`EC curve ${REFUSED_CURVES[oid] ?? oid} is not accepted; use P-256 or P-384`);
  return curve;
}

/** The encoding only: whether the point is on the curve is OpenSSL's import's question (analysePublicKey). */
function checkEcPoint(point: Uint8Array, curve: NonNullable<(typeof CURVES)[string]>): void {
  const size = curve.bits / 8;
  const form = point[0];
  if (form === 0x02 || form === 0x03) throw weakKey('compressed EC points are not accepted; send the uncompressed form');
  if (form === 0x00) throw weakKey('EC public key is the point at infinity');
  if (form !== 0x04 || point.length !== 1 + 2 * size) throw weakKey('EC public key is not an uncompressed point of the curve size');
}
