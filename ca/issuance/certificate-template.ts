/**
 * What a leaf certificate will say, decided from the profile, the names policy allowed, and the issuer — never
 * from extensions the CSR asked for. Validity is clamped to the issuer's notAfter (documented in the API docs).
 */
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

export function certificateTemplate(t: TemplateInput, serial: Serial): TbsCertificateSpec {
  const subject = buildName(profileSubject(t.profile, t.cn));
  const notBefore = new Date(Math.max(t.now.getTime() - BACKDATE_MS, t.issuer.info.notBefore.getTime()));
  // RFC 5280 counts both ends: "N days" ends one second before notBefore + N days.
  const wanted = new Date(notBefore.getTime() + t.validityDays * 86_400_000 - 1000);
  const notAfter = wanted > t.issuer.info.notAfter ? t.issuer.info.notAfter : wanted;
  const caName = t.issuer.row.name;
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
      authorityKeyIdentifier(t.issuer.info.keyIdentifier),
      crlDistributionPoints([t.urls.crl(caName)]),
      authorityInfoAccess({ ocsp: [t.urls.ocsp()], caIssuers: [t.urls.caIssuers(caName)] }),
    ],
  };
}
