/**
 * The to-be-signed certificate, built before anything is signed so it can be linted, recorded (the database keeps
 * tbs_der for a reserved serial) and compared with what the HSM signed.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { TBSCertificate, type Extension, type Name } from '@peculiar/asn1-x509';
import type { SignatureAlgorithm } from '../../hsm/index.ts';
import { algorithmIdentifierDer } from './algorithms.ts';
import { encodeTlv, encodeTlvOf, isMinimalInteger } from './der.ts';
import { X509Error } from './errors.ts';
import { extensionDer } from './extension-der.ts';
import { nameDer } from './names.ts';
import { spkiInfo } from './public-key.ts';
import type { Serial } from './serial.ts';
import { timeDer } from './time.ts';

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
  /** The DER parsed into the schema's object, made when first read (nothing on the issuance path reads it). */
  readonly tbs: TBSCertificate;
  der: Uint8Array;
}

/** [0] EXPLICIT INTEGER 2: every certificate we make is v3. */
const VERSION_V3 = Uint8Array.from([0xa0, 0x03, 0x02, 0x01, 0x02]);

/**
 * Encodes without judging: policy (validity limits, required extensions, serial entropy) is lintCertificate's job,
 * so the lint sees exactly what a careless caller built. Only what cannot be encoded correctly is refused here.
 *
 * Written field by field from parts that are already DER (names, the SPKI, each extension's value), the way the
 * schema library would write them — tests hold the two byte-equal — at a tenth of its cost: this runs for every
 * certificate.
 */
export function buildTbsCertificate(spec: TbsCertificateSpec): BuiltTbsCertificate {
  const serial = spec.serial instanceof Uint8Array ? spec.serial : spec.serial.bytes;
  if (!isMinimalInteger(serial)) throw new X509Error('invalid-input', 'serial is not a minimal DER INTEGER');
  // Refuses an SPKI that is not DER (the certificate would certify other bytes than its owner's); cached by content.
  spkiInfo(spec.spki);
  const fields = [
    VERSION_V3,
    encodeTlv(0x02, serial),
    algorithmIdentifierDer(spec.signatureAlgorithm),
    nameDer(spec.issuer),
    encodeTlvOf(0x30, [timeDer(spec.notBefore), timeDer(spec.notAfter)]),
    nameDer(spec.subject),
    spec.spki,
  ];
  if (spec.extensions.length) fields.push(encodeTlv(0xa3, encodeTlvOf(0x30, spec.extensions.map(extensionDer))));
  const der = encodeTlvOf(0x30, fields);
  let tbs: TBSCertificate | undefined;
  return {
    der,
    get tbs() {
      return (tbs ??= parseTbsCertificate(der));
    },
  };
}

export function parseTbsCertificate(der: Uint8Array): TBSCertificate {
  try {
    return AsnConvert.parse(der, TBSCertificate);
  } catch (e) {
    throw new X509Error('der', `not a TBSCertificate: ${(e as Error).message}`);
  }
}
