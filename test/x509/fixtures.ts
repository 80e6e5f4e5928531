// Clean specs for a root, an intermediate and a root CRL, as the ceremonies will build them. Tests break one
// thing at a time from here.
import { randomBytes } from 'node:crypto';
import type { Signer } from '../../hsm/signer.ts';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  buildName,
  certificatePolicies,
  crlDistributionPoints,
  issuerInfo,
  issuerName,
  keyIdentifier,
  keyUsage,
  newSerial,
  subjectKeyIdentifier,
  type TbsCertificateSpec,
  type TbsCrlSpec,
} from '../../ca/x509/index.ts';

export const NOT_BEFORE = new Date('2026-01-01T00:00:00Z');
export const ROOT_NOT_AFTER = new Date('2045-12-31T23:59:59Z');
export const INT_NOT_AFTER = new Date('2031-12-31T23:59:59Z');
export const CRL_URL = 'http://crl.strongroom.test/root.crl';
export const OCSP_URL = 'http://ocsp.strongroom.test/';
export const ISSUER_URL = 'http://pki.strongroom.test/root.cer';
export const POLICY = '1.3.6.1.4.1.99999.1.1';
/** For `openssl verify -attime`: inside every validity window and before the CRL's nextUpdate, whatever today is. */
export const AT_TIME = String(Date.parse('2026-06-01T00:00:00Z') / 1000);

export const rootLint = { ca: true, maxValidityDays: 25 * 366 };
export const intermediateLint = (root: Uint8Array) => ({ ca: true, maxValidityDays: 10 * 366, issuerCertificate: root });
export const crlLint = (root: Uint8Array, previousCrlNumber?: bigint) => ({ issuerCertificate: root, maxValidityDays: 366, ...(previousCrlNumber !== undefined ? { previousCrlNumber } : {}) });

const random = (n: number) => randomBytes(n);

export async function rootSpec(signer: Signer, label = 'Strongroom Test Root'): Promise<TbsCertificateSpec> {
  const name = buildName({ C: 'DE', O: 'Strongroom Test', CN: label }, { requireNonEmpty: true });
  return {
    serial: await newSerial(random),
    issuer: name,
    subject: name,
    notBefore: NOT_BEFORE,
    notAfter: ROOT_NOT_AFTER,
    spki: signer.spki,
    signatureAlgorithm: signer.algorithm,
    extensions: [basicConstraints({ ca: true }), keyUsage(['keyCertSign', 'cRLSign']), subjectKeyIdentifier(signer.spki)],
  };
}

export async function intermediateSpec(rootDer: Uint8Array, rootSigner: Signer, subjectSpki: Uint8Array, label = 'Strongroom Test Issuing CA'): Promise<TbsCertificateSpec> {
  const root = issuerInfo(rootDer);
  return {
    serial: await newSerial(random),
    issuer: issuerName(root),
    subject: buildName({ C: 'DE', O: 'Strongroom Test', CN: label }, { requireNonEmpty: true }),
    notBefore: NOT_BEFORE,
    notAfter: INT_NOT_AFTER,
    spki: subjectSpki,
    signatureAlgorithm: rootSigner.algorithm,
    extensions: [
      basicConstraints({ ca: true, pathLen: 0 }),
      keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign']),
      subjectKeyIdentifier(subjectSpki),
      authorityKeyIdentifier(root.keyIdentifier),
      crlDistributionPoints([CRL_URL]),
      authorityInfoAccess({ ocsp: [OCSP_URL], caIssuers: [ISSUER_URL] }),
      certificatePolicies([POLICY]),
    ],
  };
}

export function crlSpec(rootDer: Uint8Array, rootSigner: Signer, revokedSerial: Uint8Array, crlNumber = 1n): TbsCrlSpec {
  const root = issuerInfo(rootDer);
  return {
    issuer: issuerName(root),
    thisUpdate: new Date('2026-03-01T00:00:00Z'),
    nextUpdate: new Date('2026-09-01T00:00:00Z'),
    signatureAlgorithm: rootSigner.algorithm,
    crlNumber,
    authorityKeyId: keyIdentifier(root.spki),
    revoked: [
      { serial: revokedSerial, revocationDate: new Date('2026-02-15T12:00:00Z'), reason: 'keyCompromise', invalidityDate: new Date('2026-02-14T00:00:00Z') },
    ],
  };
}
