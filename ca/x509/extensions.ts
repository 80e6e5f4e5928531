/**
 * Extension builders. Criticality follows RFC 5280 (and the CA/B BRs where they are stricter) by default, so a
 * profile that forgets to say gets the safe choice: basicConstraints, keyUsage and nameConstraints critical, the
 * informational ones not.
 */
import { hash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AccessDescription,
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CertificatePolicies,
  CRLDistributionPoints,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  Extension,
  GeneralSubtree,
  GeneralSubtrees,
  id_ad_caIssuers,
  id_ad_ocsp,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_certificatePolicies,
  id_ce_cRLDistributionPoints,
  id_ce_freshestCRL,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_pe_authorityInfoAccess,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  NameConstraints,
  PolicyInformation,
  type GeneralName,
} from '@peculiar/asn1-x509';
import { encodeTlv, encodeTlvOf } from './der.ts';
import { X509Error } from './errors.ts';
import { checkDnsName, checkEmail, checkUri, dnsName, emailName, ipRangeName, parseIp, uriName } from './general-names.ts';
import { spkiInfo } from './public-key.ts';

export const EXTENSION_OIDS = {
  basicConstraints: id_ce_basicConstraints,
  keyUsage: id_ce_keyUsage,
  extKeyUsage: id_ce_extKeyUsage,
  subjectKeyIdentifier: id_ce_subjectKeyIdentifier,
  authorityKeyIdentifier: id_ce_authorityKeyIdentifier,
  cRLDistributionPoints: id_ce_cRLDistributionPoints,
  authorityInfoAccess: id_pe_authorityInfoAccess,
  nameConstraints: id_ce_nameConstraints,
  certificatePolicies: id_ce_certificatePolicies,
  subjectAltName: id_ce_subjectAltName,
} as const;

export function extension(extnID: string, critical: boolean, value: object): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** An extension whose value is already DER. */
function derExtension(extnID: string, critical: boolean, value: Uint8Array): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(value) });
}

export function basicConstraints({ ca, pathLen, critical = true }: { ca: boolean; pathLen?: number; critical?: boolean }): Extension {
  if (pathLen !== undefined) {
    if (!ca) throw new X509Error('invalid-input', 'pathLenConstraint is meaningful only with cA TRUE');
    if (!Number.isInteger(pathLen) || pathLen < 0 || pathLen > 255) throw new X509Error('invalid-input', 'pathLen must be an integer 0..255');
  }
  return extension(id_ce_basicConstraints, critical, new BasicConstraints({ cA: ca, ...(pathLen !== undefined ? { pathLenConstraint: pathLen } : {}) }));
}

export type KeyUsageName = keyof typeof KeyUsageFlags;

export function keyUsage(usages: readonly KeyUsageName[], { critical = true } = {}): Extension {
  if (usages.length === 0) throw new X509Error('invalid-input', 'keyUsage needs at least one bit (RFC 5280 §4.2.1.3)');
  let bits = 0;
  for (const u of usages) {
    const flag = KeyUsageFlags[u];
    if (typeof flag !== 'number') throw new X509Error('invalid-input', `unknown key usage ${u}`);
    bits |= flag;
  }
  // BitString.fromNumber drops trailing zero bits, which is the DER rule for named bit lists.
  return extension(id_ce_keyUsage, critical, new KeyUsage(bits));
}

export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
} as const;

const OID_TEXT = /^[0-2](\.(0|[1-9][0-9]*))+$/;

function checkOid(oid: string, what: string): string {
  if (!OID_TEXT.test(oid)) throw new X509Error('invalid-input', `${what} ${JSON.stringify(oid)} is not a dotted OID`);
  return oid;
}

/** Purposes by name or OID. RFC 3161 wants timeStamping alone and critical: pass { critical: true } there. */
export function extKeyUsage(purposes: readonly (keyof typeof EKU | string)[], { critical = false } = {}): Extension {
  if (purposes.length === 0) throw new X509Error('invalid-input', 'extKeyUsage needs at least one purpose');
  const oids = purposes.map((p) => (p in EKU ? EKU[p as keyof typeof EKU] : checkOid(p, 'EKU')));
  if (new Set(oids).size !== oids.length) throw new X509Error('invalid-input', 'duplicate EKU purposes');
  return extension(id_ce_extKeyUsage, critical, new ExtendedKeyUsage(oids));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 over the subjectPublicKey BIT STRING contents (no tag, length or unused-bits octet). */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  return Uint8Array.from(hash('sha1', spkiInfo(spki).subjectPublicKey, 'buffer'));
}

export function subjectKeyIdentifier(spki: Uint8Array): Extension {
  return derExtension(id_ce_subjectKeyIdentifier, false, encodeTlv(0x04, keyIdentifier(spki)));
}

/** keyIdentifier only: naming the issuer's issuer and serial would pin the chain and break cross-signing. */
export function authorityKeyIdentifier(issuerKeyId: Uint8Array): Extension {
  if (issuerKeyId.length === 0) throw new X509Error('invalid-input', 'empty authority key identifier');
  return extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(issuerKeyId) }));
}

// Plain http for revocation and issuer URLs: fetching them over TLS would need a validated chain, which may need
// this very CRL or OCSP answer. RFC 5280 and the BRs use http.
const FETCH_SCHEMES = ['http'] as const;

function nonEmpty<T>(list: readonly T[] | undefined, what: string): readonly T[] {
  if (!list || list.length === 0) throw new X509Error('invalid-input', `${what}: at least one entry`);
  if (new Set(list).size !== list.length) throw new X509Error('invalid-input', `${what}: duplicate entries`);
  return list;
}

/** One distribution point whose fullName lists the URIs: several names for the same, complete CRL. */
export function crlDistributionPoints(uris: readonly string[]): Extension {
  return extension(id_ce_cRLDistributionPoints, false, onePoint(uris, 'cRLDistributionPoints'));
}

/** freshestCRL (RFC 5280 §5.2.6) in a complete CRL: where its delta CRLs are published. Same syntax as a CDP. */
export function freshestCrl(uris: readonly string[]): Extension {
  return extension(id_ce_freshestCRL, false, onePoint(uris, 'freshestCRL'));
}

/** One DistributionPoint whose fullName is these URIs. */
function onePoint(uris: readonly string[], what: string): CRLDistributionPoints {
  const fullName = nonEmpty(uris, what).map((u) => uriName(u, FETCH_SCHEMES));
  return new CRLDistributionPoints([new DistributionPoint({ distributionPoint: new DistributionPointName({ fullName }) })]);
}

export function authorityInfoAccess({ caIssuers = [], ocsp = [] }: { caIssuers?: readonly string[]; ocsp?: readonly string[] }): Extension {
  nonEmpty([...ocsp, ...caIssuers], 'authorityInfoAccess');
  const entries = [
    ...ocsp.map((u) => new AccessDescription({ accessMethod: id_ad_ocsp, accessLocation: uriName(u, FETCH_SCHEMES) })),
    ...caIssuers.map((u) => new AccessDescription({ accessMethod: id_ad_caIssuers, accessLocation: uriName(u, FETCH_SCHEMES) })),
  ];
  return extension(id_pe_authorityInfoAccess, false, new AuthorityInfoAccessSyntax(entries));
}

export interface NameSubtrees {
  /** "example.com" matches it and every name below it (no leading dot for dNSName). */
  dns?: readonly string[];
  /** "10.0.0.0/8", "2001:db8::/32". */
  ip?: readonly string[];
  /** A mailbox, a host ("example.com") or a domain (".example.com"). */
  email?: readonly string[];
}

function subtrees(s: NameSubtrees): GeneralSubtrees {
  const names: GeneralName[] = [
    ...(s.dns ?? []).map((d) => dnsName(d)),
    ...(s.ip ?? []).map(ipRangeName),
    ...(s.email ?? []).map((e) => emailName(e, { constraint: true })),
  ];
  if (names.length === 0) throw new X509Error('invalid-input', 'an empty subtree list is not allowed (RFC 5280 §4.2.1.10)');
  return new GeneralSubtrees(names.map((base) => new GeneralSubtree({ base })));
}

/** Critical by default: RFC 5280 says MUST, so that a relying party which cannot enforce it rejects the chain. */
export function nameConstraints({ permitted, excluded, critical = true }: { permitted?: NameSubtrees; excluded?: NameSubtrees; critical?: boolean }): Extension {
  if (!permitted && !excluded) throw new X509Error('invalid-input', 'nameConstraints needs permitted or excluded subtrees');
  return extension(
    id_ce_nameConstraints,
    critical,
    new NameConstraints({ ...(permitted ? { permittedSubtrees: subtrees(permitted) } : {}), ...(excluded ? { excludedSubtrees: subtrees(excluded) } : {}) }),
  );
}

export function certificatePolicies(oids: readonly string[]): Extension {
  const list = nonEmpty(oids, 'certificatePolicies').map((o) => checkOid(o, 'policy'));
  return extension(id_ce_certificatePolicies, false, new CertificatePolicies(list.map((policyIdentifier) => new PolicyInformation({ policyIdentifier }))));
}

export interface AltNames {
  dns?: readonly string[];
  ip?: readonly string[];
  uri?: readonly string[];
  email?: readonly string[];
}

/** Critical when the subject is empty (RFC 5280 §4.2.1.6): pass { critical: true } then. */
export function subjectAltName(names: AltNames, { critical = false, wildcards = false } = {}): Extension {
  const ascii = (tag: number, text: string) => encodeTlv(tag, Buffer.from(text, 'latin1'));
  // Checked as dnsName/ipName/uriName/emailName check them, then written directly: every leaf certificate has one,
  // and the schema library spent ~0.1 ms on a single name. Tests hold the two encodings byte-equal.
  const list = [
    ...(names.dns ?? []).map((d) => ascii(0x82, checkDnsName(d, { wildcard: wildcards }))),
    ...(names.ip ?? []).map((a) => encodeTlv(0x87, parseIp(a))),
    ...(names.uri ?? []).map((u) => ascii(0x86, checkUri(u))),
    ...(names.email ?? []).map((e) => ascii(0x81, checkEmail(e))),
  ];
  if (list.length === 0) throw new X509Error('invalid-input', 'subjectAltName needs at least one name');
  const all = [...(names.dns ?? []), ...(names.ip ?? []), ...(names.uri ?? []), ...(names.email ?? [])];
  if (new Set(all).size !== all.length) throw new X509Error('invalid-input', 'subjectAltName: duplicate names');
  return derExtension(id_ce_subjectAltName, critical, encodeTlvOf(0x30, list));
}
