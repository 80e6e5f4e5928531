/**
 * The to-be-signed CRL (RFC 5280 §5): v2, issuer, thisUpdate, nextUpdate, the revoked entries with their reason
 * and invalidity date, and the CRL extensions every conforming CRL carries (cRLNumber, authorityKeyIdentifier).
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { CRLReason, CRLReasons, Extension, id_ce_cRLNumber, id_ce_cRLReasons, id_ce_deltaCRLIndicator, id_ce_invalidityDate, InvalidityDate, RevokedCertificate, TBSCertList, Version, type Name } from '@peculiar/asn1-x509';
import type { SignatureAlgorithm } from '../../hsm/index.ts';
import { algorithmIdentifier } from './algorithms.ts';
import { encodeTlv, isMinimalInteger, TAG_INTEGER, toBytes, unsignedToInteger } from './der.ts';
import { X509Error } from './errors.ts';
import { authorityKeyIdentifier, extension, freshestCrl } from './extensions.ts';
import type { Serial } from './serial.ts';
import { wholeSeconds, x509Time } from './time.ts';

/** removeFromCRL is absent on purpose: it undoes a certificateHold in a delta CRL, and we issue no holds. */
export type RevocationReason = Exclude<keyof typeof CRLReasons, 'removeFromCRL'>;

export interface RevokedEntry {
  serial: Serial | Uint8Array;
  revocationDate: Date;
  /** 'unspecified' (or nothing) writes no reasonCode: RFC 5280 §5.3.1 prefers the extension absent. */
  reason?: RevocationReason;
  /** When the key is known or suspected to have been compromised, if earlier than revocationDate. */
  invalidityDate?: Date;
}

export interface TbsCrlSpec {
  issuer: Name;
  thisUpdate: Date;
  nextUpdate: Date;
  signatureAlgorithm: SignatureAlgorithm;
  /** A bigint: CRL numbers may use up to 20 octets. */
  crlNumber: bigint;
  /** The issuer's subject key identifier. */
  authorityKeyId: Uint8Array;
  revoked: readonly RevokedEntry[];
  /**
   * A delta CRL (RFC 5280 §5.2.4): the number of the complete CRL it adds to, written as a critical
   * deltaCRLIndicator. Its entries are the revocations that complete CRL does not list.
   */
  deltaOf?: bigint;
  /** A complete CRL's freshestCRL: where its delta CRLs are. */
  freshestCrlUrls?: readonly string[];
}

export interface BuiltTbsCrl {
  tbs: TBSCertList;
  der: Uint8Array;
}

export function cRLNumber(value: bigint): Extension {
  // Written by hand: @peculiar/asn1-x509's CRLNumber holds a JavaScript number, which loses digits past 2^53.
  const der = encodeTlv(TAG_INTEGER, unsignedToInteger(value));
  return new Extension({ extnID: id_ce_cRLNumber, critical: false, extnValue: new OctetString(der) });
}

/** deltaCRLIndicator: BaseCRLNumber, by hand for the same reason as cRLNumber; always critical (§5.2.4). */
export function deltaCrlIndicator(baseCrlNumber: bigint): Extension {
  const der = encodeTlv(TAG_INTEGER, unsignedToInteger(baseCrlNumber));
  return new Extension({ extnID: id_ce_deltaCRLIndicator, critical: true, extnValue: new OctetString(der) });
}

function entry(e: RevokedEntry): RevokedCertificate {
  const serial = e.serial instanceof Uint8Array ? e.serial : e.serial.bytes;
  if (!isMinimalInteger(serial)) throw new X509Error('invalid-input', 'revoked serial is not a minimal DER INTEGER');
  const extensions: Extension[] = [];
  if (e.reason && e.reason !== 'unspecified') {
    const code = CRLReasons[e.reason];
    if (typeof code !== 'number') throw new X509Error('invalid-input', `unknown revocation reason ${e.reason}`);
    extensions.push(extension(id_ce_cRLReasons, false, new CRLReason(code)));
  }
  if (e.invalidityDate) extensions.push(extension(id_ce_invalidityDate, false, new InvalidityDate(wholeSeconds(e.invalidityDate))));
  return new RevokedCertificate({
    userCertificate: toBytes(serial).buffer as ArrayBuffer,
    revocationDate: x509Time(e.revocationDate),
    ...(extensions.length ? { crlEntryExtensions: extensions } : {}),
  });
}

/** Encodes without judging, like buildTbsCertificate: lintCrl decides what may be signed. */
export function buildTbsCrl(spec: TbsCrlSpec): BuiltTbsCrl {
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: algorithmIdentifier(spec.signatureAlgorithm),
    issuer: spec.issuer,
    thisUpdate: x509Time(spec.thisUpdate),
    nextUpdate: x509Time(spec.nextUpdate),
    // An empty list is left out entirely: RFC 5280 §5.1.2.6 says absent, not an empty SEQUENCE.
    ...(spec.revoked.length ? { revokedCertificates: spec.revoked.map(entry) } : {}),
    crlExtensions: [
      authorityKeyIdentifier(spec.authorityKeyId),
      cRLNumber(spec.crlNumber),
      ...(spec.deltaOf !== undefined ? [deltaCrlIndicator(spec.deltaOf)] : []),
      ...(spec.freshestCrlUrls?.length ? [freshestCrl(spec.freshestCrlUrls)] : []),
    ],
  });
  return { tbs, der: toBytes(AsnConvert.serialize(tbs)) };
}

export function parseTbsCrl(der: Uint8Array): TBSCertList {
  try {
    return AsnConvert.parse(der, TBSCertList);
  } catch (e) {
    throw new X509Error('der', `not a TBSCertList: ${(e as Error).message}`);
  }
}
