/**
 * The serials a signed CRL lists, as hex of their INTEGER contents octets (what serialFromHex(...).bytes gives for
 * the same serial): a delta CRL leaves out what its base already lists.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import { X509Error } from './errors.ts';

export function revokedSerialsOf(crlDer: Uint8Array): string[] {
  let crl: CertificateList;
  try {
    crl = AsnConvert.parse(crlDer, CertificateList);
  } catch (e) {
    throw new X509Error('der', `not a CRL: ${(e as Error).message}`);
  }
  return (crl.tbsCertList.revokedCertificates ?? []).map((r) => Buffer.from(r.userCertificate).toString('hex'));
}
