/**
 * Signing a linted TBSCertificate: once, through the issuer's Signer, checked before it is returned.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, type TBSCertificate } from '@peculiar/asn1-x509';
import type { Signer } from '../../hsm/index.ts';
import { signatureAlgorithmOf } from './algorithms.ts';
import { children, readSingleTlv, toBytes } from './der.ts';
import { X509Error } from './errors.ts';
import { toPem } from './pem.ts';
import { checkSigned, signOnce, type SignOnceOptions } from './sign-once.ts';
import { parseTbsCertificate } from './tbs-certificate.ts';

export interface SignedCertificate {
  der: Uint8Array;
  pem: string;
  /** The TBS that was signed: byte for byte the one passed in. */
  tbsDer: Uint8Array;
  certificate: Certificate;
}

/**
 * Pass the DER that lintCertificate passed (an object is encoded first, and that encoding is what gets signed).
 * The algorithm is the one the TBS names; default priority 'normal' (issuance).
 */
export async function signCertificate(tbs: Uint8Array | TBSCertificate, signer: Signer, options: SignOnceOptions = {}): Promise<SignedCertificate> {
  const tbsDer = tbs instanceof Uint8Array ? tbs : toBytes(AsnConvert.serialize(tbs));
  const alg = signatureAlgorithmOf(parseTbsCertificate(tbsDer).signature);
  const der = await signOnce(tbsDer, alg, signer, options);
  verifyCertificate(der, { issuerSpki: signer.spki, expectedTbs: tbsDer });
  return { der, pem: toPem(der, 'CERTIFICATE'), tbsDer, certificate: AsnConvert.parse(der, Certificate) };
}

/**
 * Checks a certificate as a relying party: parses, algorithms agree, the signature verifies under `issuerSpki`;
 * with `expectedTbs`, also that the signed TBS is exactly those bytes. Throws SignatureCheckError.
 * Ceremonies use it on their inputs too (the issuer certificate, the certificate to cross-sign).
 */
export function verifyCertificate(der: Uint8Array, { issuerSpki, expectedTbs }: { issuerSpki: Uint8Array; expectedTbs?: Uint8Array }): void {
  checkCertificate(der, { issuerSpki, ...(expectedTbs ? { expectedTbs } : {}) }, (d) => AsnConvert.parse(d, Certificate));
}

/**
 * verifyCertificate for a certificate just signed over a TBS that passed lintCertificate (which read every field of
 * it strictly and found it in DER): every check but the schema parse of the whole certificate, which would judge
 * that same TBS again. The outer SEQUENCE is still read strictly (three TLVs, no trailing bytes),
 * the TBS must be `expectedTbs` byte for byte, the outer algorithm must equal the TBS's and be one we know, the
 * BIT STRING must have no unused bits, and the signature must verify under the issuer's key in Node's crypto.
 */
export function verifyLintedCertificate(der: Uint8Array, { issuerSpki, expectedTbs }: { issuerSpki: Uint8Array; expectedTbs: Uint8Array }): void {
  checkCertificate(der, { issuerSpki, expectedTbs }, () => undefined);
}

function checkCertificate(der: Uint8Array, { issuerSpki, expectedTbs }: { issuerSpki: Uint8Array; expectedTbs?: Uint8Array }, parse: (der: Uint8Array) => unknown): void {
  checkSigned(der, {
    parse,
    issuerSpki,
    ...(expectedTbs ? { expectedTbs } : {}),
    tbsSignatureField: (tbsDer) => {
      // version [0] (optional), serialNumber, signature
      const fields = children(readSingleTlv(tbsDer));
      const field = fields[fields[0]?.tag === 0xa0 ? 2 : 1];
      if (!field) throw new X509Error('der', 'TBSCertificate without a signature field');
      return field.bytes;
    },
  });
}
