/**
 * Signing a linted TBSCertList: once, through the issuer's Signer, checked before it is returned. CRLs sign at
 * 'high' priority by default: a stale CRL blocks relying parties, a slow issuance only one client.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList, type TBSCertList } from '@peculiar/asn1-x509';
import type { Signer } from '../../hsm/index.ts';
import { signatureAlgorithmOf } from './algorithms.ts';
import { children, readSingleTlv, TAG_INTEGER, toBytes } from './der.ts';
import { X509Error } from './errors.ts';
import { toPem } from './pem.ts';
import { checkSigned, signOnce, type SignOnceOptions } from './sign-once.ts';
import { parseTbsCrl } from './tbs-crl.ts';

export interface SignedCrl {
  der: Uint8Array;
  pem: string;
  tbsDer: Uint8Array;
  crl: CertificateList;
}

export async function signCrl(tbs: Uint8Array | TBSCertList, signer: Signer, options: SignOnceOptions = {}): Promise<SignedCrl> {
  const tbsDer = tbs instanceof Uint8Array ? tbs : toBytes(AsnConvert.serialize(tbs));
  const alg = signatureAlgorithmOf(parseTbsCrl(tbsDer).signature);
  const der = await signOnce(tbsDer, alg, signer, { priority: 'high', ...options });
  verifyCrl(der, { issuerSpki: signer.spki, expectedTbs: tbsDer });
  return { der, pem: toPem(der, 'X509 CRL'), tbsDer, crl: AsnConvert.parse(der, CertificateList) };
}

/** A relying party's check of a CRL against its issuer's key; with `expectedTbs`, also the exact signed bytes. */
export function verifyCrl(der: Uint8Array, { issuerSpki, expectedTbs }: { issuerSpki: Uint8Array; expectedTbs?: Uint8Array }): void {
  checkSigned(der, {
    parse: (d) => AsnConvert.parse(d, CertificateList),
    issuerSpki,
    ...(expectedTbs ? { expectedTbs } : {}),
    tbsSignatureField: (tbsDer) => {
      // version (optional INTEGER), signature
      const fields = children(readSingleTlv(tbsDer));
      const field = fields[fields[0]?.tag === TAG_INTEGER ? 1 : 0];
      if (!field) throw new X509Error('der', 'TBSCertList without a signature field');
      return field.bytes;
    },
  });
}
