/**
 * The to-be-signed certificate, built before anything is signed so it can be linted, recorded (the database keeps
 * tbs_der for a reserved serial) and compared with what the HSM signed.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Extensions, TBSCertificate, Validity, Version, type Extension, type Name } from '@peculiar/asn1-x509';
import type { SignatureAlgorithm } from '../../hsm/index.ts';
import { algorithmIdentifier } from './algorithms.ts';
import { isMinimalInteger, toBytes } from './der.ts';
import { X509Error } from './errors.ts';
import { spkiInfo } from './public-key.ts';
import type { Serial } from './serial.ts';
import { x509Time } from './time.ts';

export interface TbsCertificateSpec {
  serial: Serial | Uint8Array;
  issuer: Name;
  subject: Name;
  /** Whole seconds are kept; milliseconds are dropped. */
  notBefore: Date;
  notAfter: Date;
  /** The subject's public key, DER SubjectPublicKeyInfo, carried over byte for byte. */
  spki: Uint8Array;
  /** The algorithm the issuer's key will sign with; written into the TBS signature field. */
  signatureAlgorithm: SignatureAlgorithm;
  extensions: readonly Extension[];
}

export interface BuiltTbsCertificate {
  tbs: TBSCertificate;
  der: Uint8Array;
}

/**
 * Encodes without judging: policy (validity limits, required extensions, serial entropy) is lintCertificate's job,
 * so the lint sees exactly what a careless caller built. Only what cannot be encoded correctly is refused here.
 */
export function buildTbsCertificate(spec: TbsCertificateSpec): BuiltTbsCertificate {
  const serial = spec.serial instanceof Uint8Array ? spec.serial : spec.serial.bytes;
  if (!isMinimalInteger(serial)) throw new X509Error('invalid-input', 'serial is not a minimal DER INTEGER');
  // Validity's constructor takes Dates and picks the Time itself; set the fields so x509Time's checks apply.
  const validity = new Validity();
  validity.notBefore = x509Time(spec.notBefore);
  validity.notAfter = x509Time(spec.notAfter);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toBytes(serial).buffer as ArrayBuffer,
    signature: algorithmIdentifier(spec.signatureAlgorithm),
    issuer: spec.issuer,
    validity,
    subject: spec.subject,
    subjectPublicKeyInfo: spkiInfo(spec.spki).spki,
    ...(spec.extensions.length ? { extensions: new Extensions([...spec.extensions]) } : {}),
  });
  return { tbs, der: toBytes(AsnConvert.serialize(tbs)) };
}

export function parseTbsCertificate(der: Uint8Array): TBSCertificate {
  try {
    return AsnConvert.parse(der, TBSCertificate);
  } catch (e) {
    throw new X509Error('der', `not a TBSCertificate: ${(e as Error).message}`);
  }
}
