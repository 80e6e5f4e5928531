/**
 * Public keys as they leave the token: PKCS#11 attributes → DER SubjectPublicKeyInfo. Node's KeyObject does the
 * ASN.1 so there is no hand-built encoding to get wrong.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { EC_PARAMS, type KeyType } from './key-spec.ts';

export interface PublicKeyAttributes {
  keyType: KeyType;
  /** CKA_EC_POINT as the token returns it (usually a DER OCTET STRING around the point). */
  ecPoint?: Buffer;
  modulus?: Buffer;
  publicExponent?: Buffer;
}

const b64u = (b: Buffer) => b.toString('base64url');

/** Strips the DER OCTET STRING wrapper PKCS#11 v2.20+ puts around CKA_EC_POINT, if present. */
export function unwrapEcPoint(value: Buffer, pointLength: number): Buffer {
  if (value.length === pointLength) return value;
  if (value[0] === 0x04) {
    // OCTET STRING: short or long form length
    let offset = 2;
    let len = value[1]!;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = (len << 8) | value[2 + i]!;
      offset = 2 + n;
    }
    if (offset + len === value.length && len === pointLength) return value.subarray(offset);
  }
  throw new Error(`CKA_EC_POINT of ${value.length} bytes does not hold a ${pointLength}-byte point`);
}

export function publicKeyObject(attrs: PublicKeyAttributes): KeyObject {
  switch (attrs.keyType) {
    case 'ec-p256':
    case 'ec-p384': {
      const size = attrs.keyType === 'ec-p256' ? 32 : 48;
      const point = unwrapEcPoint(attrs.ecPoint!, 2 * size + 1);
      if (point[0] !== 0x04) throw new Error('EC point is not uncompressed');
      return createPublicKey({
        key: {
          kty: 'EC',
          crv: attrs.keyType === 'ec-p256' ? 'P-256' : 'P-384',
          x: b64u(point.subarray(1, 1 + size)),
          y: b64u(point.subarray(1 + size)),
        },
        format: 'jwk',
      });
    }
    case 'ed25519': {
      const point = unwrapEcPoint(attrs.ecPoint!, 32);
      return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(point) }, format: 'jwk' });
    }
    default:
      return createPublicKey({
        key: { kty: 'RSA', n: b64u(stripZeros(attrs.modulus!)), e: b64u(stripZeros(attrs.publicExponent!)) },
        format: 'jwk',
      });
  }
}

function stripZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

export function spkiDer(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** The fingerprint Strongroom matches keys by (issuer certificate ↔ HSM key, primary ↔ DR token). */
export function spkiSha256(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('hex');
}

export function ecParamsMatch(keyType: 'ec-p256' | 'ec-p384', ecParams: Buffer): boolean {
  return ecParams.toString('hex') === EC_PARAMS[keyType];
}
