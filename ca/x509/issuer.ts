/**
 * What the linters need from an issuer certificate, read from its DER. Subject and public key are taken as raw
 * bytes, not re-encoded: chaining compares the child's issuer with exactly the bytes relying parties will see, and
 * an issuer made by another CA (the input of a cross-signing ceremony) may use encodings we would not produce.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  Certificate,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
  KeyUsage,
  Name,
  SubjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { children, readSingleTlv, toBytes, type Tlv } from './der.ts';
import { X509Error } from './errors.ts';
import { keyIdentifier } from './extensions.ts';
import { sealName } from './names.ts';

export interface IssuerInfo {
  certificate: Certificate;
  /** DER of the issuer's subject Name, as it appears in its certificate. */
  subjectDer: Uint8Array;
  /** DER SubjectPublicKeyInfo, as it appears in its certificate. */
  spki: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** The issuer's SKI extension, or the RFC 5280 method-1 value when it has none. */
  keyIdentifier: Uint8Array;
  ca: boolean;
  pathLen: number | undefined;
  /** undefined when the issuer has no keyUsage extension (then every usage is allowed). */
  keyUsage: number | undefined;
}

/** The fields of a TBSCertificate as raw TLVs (version, serial, signature, issuer, validity, subject, spki, …). */
export function tbsFields(tbsDer: Uint8Array): { issuer: Tlv; subject: Tlv; spki: Tlv } {
  const fields = children(readSingleTlv(tbsDer));
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version is absent for v1
  const [issuer, subject, spki] = [fields[offset + 2], fields[offset + 4], fields[offset + 5]];
  if (!issuer || !subject || !spki) throw new X509Error('der', 'TBSCertificate has too few fields');
  return { issuer, subject, spki };
}

/** The TBSCertificate TLV inside a Certificate, untouched. */
export function rawTbs(certificateDer: Uint8Array): Uint8Array {
  const tbs = children(readSingleTlv(certificateDer))[0];
  if (!tbs) throw new X509Error('der', 'empty Certificate');
  return tbs.bytes;
}

export function issuerInfo(certificateDer: Uint8Array): IssuerInfo {
  let certificate: Certificate;
  try {
    certificate = AsnConvert.parse(certificateDer, Certificate);
  } catch (e) {
    throw new X509Error('der', `issuer certificate does not parse: ${(e as Error).message}`);
  }
  const fields = tbsFields(rawTbs(certificateDer));
  const tbs = certificate.tbsCertificate;
  const ext = (oid: string) => tbs.extensions?.find((e) => e.extnID === oid);
  const parse = <T>(oid: string, type: new () => T): T | undefined => {
    const e = ext(oid);
    return e ? AsnConvert.parse(e.extnValue.buffer, type) : undefined;
  };
  const bc = parse(id_ce_basicConstraints, BasicConstraints);
  const ski = parse(id_ce_subjectKeyIdentifier, SubjectKeyIdentifier);
  const ku = parse(id_ce_keyUsage, KeyUsage);
  const spki = toBytes(fields.spki.bytes);
  return {
    certificate,
    subjectDer: toBytes(fields.subject.bytes),
    spki,
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    keyIdentifier: ski ? toBytes(ski.buffer) : keyIdentifier(spki),
    ca: bc?.cA ?? false,
    pathLen: bc?.pathLenConstraint,
    keyUsage: ku ? ku.toNumber() || 0 : undefined,
  };
}

/**
 * issuerInfo for the hot paths (the lint reads the issuer certificate for every certificate): the parse is kept per
 * certificate content, the same bytes giving the same answer. Shared: callers must not modify it.
 */
const infoCache = new Map<string, IssuerInfo>();
const INFO_CACHE_MAX = 64;

export function cachedIssuerInfo(certificateDer: Uint8Array): IssuerInfo {
  const key = Buffer.from(certificateDer.buffer, certificateDer.byteOffset, certificateDer.byteLength).toString('base64');
  const hit = infoCache.get(key);
  if (hit) return hit;
  const info = issuerInfo(certificateDer);
  if (infoCache.size >= INFO_CACHE_MAX) infoCache.delete(infoCache.keys().next().value!);
  infoCache.set(key, info);
  return info;
}

const names = new WeakMap<IssuerInfo, { subjectDer: Uint8Array; name: Name }>();

/**
 * The issuer's subject as a Name, for a TBS's issuer field. Kept per IssuerInfo (and re-parsed if its subjectDer
 * was replaced): a TBS is built for every certificate. The object is shared: it is serialised, never modified.
 */
export function issuerName(info: IssuerInfo): Name {
  const hit = names.get(info);
  if (hit && hit.subjectDer === info.subjectDer) return hit.name;
  const name = sealName(AsnConvert.parse(info.subjectDer, Name));
  names.set(info, { subjectDer: info.subjectDer, name });
  return name;
}
