/**
 * The two fields of an X.509 certificate that OCSP hashes, found by walking the DER rather than decoding it: the
 * subject Name exactly as encoded (a re-encoding could differ and break issuerNameHash), and the subjectPublicKey.
 */
import { DerCursor } from './der-reader.ts';
import { contextConstructed, TAG } from './der-writer.ts';
import { OcspEncodingError } from './errors.ts';

export interface CertificateFields {
  /** The subject Name TLV. */
  subject: Uint8Array;
  /** The SubjectPublicKeyInfo TLV. */
  spki: Uint8Array;
  /** The subjectPublicKey BIT STRING value: contents without the unused-bits octet. */
  subjectPublicKey: Uint8Array;
}

const fail = (detail: string) => new OcspEncodingError(`not a DER X.509 certificate: ${detail}`);

export function certificateFields(der: Uint8Array): CertificateFields {
  const top = new DerCursor(der, 0, der.length, fail);
  const certificate = top.inside(top.read(TAG.SEQUENCE, 'Certificate'));
  top.finish('Certificate');
  const tbs = certificate.inside(certificate.read(TAG.SEQUENCE, 'tbsCertificate'));
  certificate.read(TAG.SEQUENCE, 'signatureAlgorithm');
  certificate.read(TAG.BIT_STRING, 'signature');
  certificate.finish('Certificate');

  if (tbs.peekTag() === contextConstructed(0)) tbs.readAny('version');
  tbs.read(TAG.INTEGER, 'serialNumber');
  tbs.read(TAG.SEQUENCE, 'signature');
  tbs.read(TAG.SEQUENCE, 'issuer');
  tbs.read(TAG.SEQUENCE, 'validity');
  const subject = tbs.read(TAG.SEQUENCE, 'subject');
  const spki = tbs.read(TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const s = tbs.inside(spki);
  s.read(TAG.SEQUENCE, 'algorithm');
  const key = s.read(TAG.BIT_STRING, 'subjectPublicKey');
  s.finish('subjectPublicKeyInfo');
  if (key.end === key.start || der[key.start] !== 0) throw fail('subjectPublicKey is not a whole number of octets');
  return { subject: tbs.whole(subject), spki: tbs.whole(spki), subjectPublicKey: der.subarray(key.start + 1, key.end) };
}
