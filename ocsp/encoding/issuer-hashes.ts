/**
 * The CertID hashes of an issuer (RFC 6960 §4.1.1): issuerNameHash over the DER of the issuer's subject Name,
 * issuerKeyHash over the value of its subjectPublicKey BIT STRING (no tag, length or unused-bits octet). The
 * responder computes them once per issuer and matches requests against them.
 */
import { createHash } from 'node:crypto';
import { certificateFields } from './certificate-fields.ts';

export interface CertIdHashes {
  name: Uint8Array;
  key: Uint8Array;
}

export interface IssuerHashes {
  sha1: CertIdHashes;
  sha256: CertIdHashes;
}

function digest(algorithm: 'sha1' | 'sha256', data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(data).digest());
}

/** Throws OcspEncodingError when the input is not a DER certificate. */
export function issuerHashes(issuerCertificateDer: Uint8Array): IssuerHashes {
  const { subject, subjectPublicKey } = certificateFields(issuerCertificateDer);
  return {
    sha1: { name: digest('sha1', subject), key: digest('sha1', subjectPublicKey) },
    sha256: { name: digest('sha256', subject), key: digest('sha256', subjectPublicKey) },
  };
}

/** SHA-1 of the subjectPublicKey value: the ResponderID byKey of RFC 6960 §4.2.1, and the CertID key hash. */
export function keyHashSha1(certificateDer: Uint8Array): Uint8Array {
  return digest('sha1', certificateFields(certificateDer).subjectPublicKey);
}
