/**
 * ECDSA signature encodings, in one place. PKCS#11's CKM_ECDSA yields raw r||s; X.509, CMS and OCSP carry
 * the DER SEQUENCE { r INTEGER, s INTEGER }; WebCrypto speaks raw r||s.
 */
import { p256, p384 } from '@noble/curves/nist.js';

export type EcCurve = 'P-256' | 'P-384';

function curveOf(name: EcCurve) {
  return name === 'P-256' ? p256 : p384;
}

export function ecdsaRawToDer(raw: Uint8Array, curve: EcCurve): Uint8Array {
  return curveOf(curve).Signature.fromBytes(raw, 'compact').toBytes('der');
}

export function ecdsaDerToRaw(der: Uint8Array, curve: EcCurve): Uint8Array {
  return curveOf(curve).Signature.fromBytes(der, 'der').toBytes('compact');
}

/** Length of r||s for the curve: twice the field size. */
export function ecdsaRawLength(curve: EcCurve): number {
  return curve === 'P-256' ? 64 : 96;
}
