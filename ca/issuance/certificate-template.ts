/**
 * What a leaf certificate will say, decided from the profile, the names policy allowed, and the issuer — never
 * from extensions the CSR asked for. Validity is clamped to the issuer's notAfter (documented in the API docs).
 */
import type { Extension } from '@peculiar/asn1-x509';
import type { NormalizedNames } from '../policy/name-policy.ts';
import { profileExtensions, profileSubject, type Profile } from '../profiles/index.ts';
import type { KeyType } from '../profiles/profile.ts';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  buildName,
  crlDistributionPoints,
  isEmptyName,
  issuerName,
  subjectKeyIdentifier,
  type Serial,
  type TbsCertificateSpec,
} from '../x509/index.ts';
import type { Issuer } from './issuer-registry.ts';

export interface PublicUrls {
  crl(caName: string): string;
  caIssuers(caName: string): string;
  ocsp(): string;
}

/** Clients' clocks drift: certificates start a little in the past so they are valid on arrival. */
export const BACKDATE_MS = 60_000;

export interface TemplateInput {
  profile: Profile;
  issuer: Issuer;
  names: NormalizedNames;
  cn: string | undefined;
  keyType: KeyType;
  spki: Uint8Array;
  validityDays: number;
  now: Date;
  urls: PublicUrls;
}

/**
 * The issuer's side of every certificate it issues — AKI, CRL distribution point, AIA — encoded once per issuer and
 * URL set rather than for every certificate (kept while the URLs are the same; Extension objects are serialised,
 * never modified).
 */
const issuerSide = new WeakMap<Issuer, { key: string; extensions: readonly Extension[] }>();

function issuerExtensions(issuer: Issuer, urls: PublicUrls): readonly Extension[] {
  const caName = issuer.row.name;
  const [crl, ocsp, caIssuers] = [urls.crl(caName), urls.ocsp(), urls.caIssuers(caName)];
  const key = JSON.stringify([crl, ocsp, caIssuers, Buffer.from(issuer.info.keyIdentifier).toString('hex')]);
  const hit = issuerSide.get(issuer);
  if (hit?.key === key) return hit.extensions;
  const extensions = [authorityKeyIdentifier(issuer.info.keyIdentifier), crlDistributionPoints([crl]), authorityInfoAccess({ ocsp: [ocsp], caIssuers: [caIssuers] })];
  issuerSide.set(issuer, { key, extensions });
  return extensions;
}

export function certificateTemplate(t: TemplateInput, serial: Serial): TbsCertificateSpec {
  const subject = buildName(profileSubject(t.profile, t.cn));
  const notBefore = new Date(Math.max(t.now.getTime() - BACKDATE_MS, t.issuer.info.notBefore.getTime()));
  // RFC 5280 counts both ends: "N days" ends one second before notBefore + N days.
  const wanted = new Date(notBefore.getTime() + t.validityDays * 86_400_000 - 1000);
  const notAfter = wanted > t.issuer.info.notAfter ? t.issuer.info.notAfter : wanted;
  return {
    serial,
    issuer: issuerName(t.issuer.info),
    subject,
    notBefore,
    notAfter,
    spki: t.spki,
    signatureAlgorithm: t.issuer.signer.algorithm,
    extensions: [
      ...profileExtensions(t.profile, { keyType: t.keyType, names: t.names, subjectEmpty: isEmptyName(subject) }),
      subjectKeyIdentifier(t.spki),
      ...issuerExtensions(t.issuer, t.urls),
    ],
  };
}
