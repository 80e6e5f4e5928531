/**
 * What a profile decides for one certificate, in the terms ca/x509's builders take: is the key type allowed, how
 * long is it valid, which names survive the name policy (profile rules AND the client's grants), what is the
 * subject, which extensions. SKI, AKI, CRL distribution point and AIA belong to the issuer and are added by
 * issuance; nothing here reads the CSR's requested extensions — there is no parameter to pass them in.
 */
import { Extension } from '@peculiar/asn1-x509';
import { OctetString } from '@peculiar/asn1-schema';
import { decideNames, shownName, type NameDecision, type NameRequest, type NormalizedNames, type PolicyRuleSet } from '../policy/index.ts';
import { basicConstraints, extKeyUsage, keyUsage, subjectAltName, type EKU, type SubjectFields } from '../x509/index.ts';
import { keyFamily, type EkuName, type KeyType, type Profile } from './profile.ts';

export function keyTypeAllowed(profile: Profile, keyType: KeyType): boolean {
  return profile.keyTypes.includes(keyType);
}

export type ValidityDecision = { ok: true; days: number } | { ok: false; detail: string };

/**
 * The validity in days: the profile's default when none is asked for; a request above the profile's maximum is
 * refused, not clamped — the requester learns the limit instead of receiving a shorter certificate than they
 * think. (The issuer's own notAfter is issuance's check.)
 */
export function validityDays(profile: Profile, requested?: number): ValidityDecision {
  if (requested === undefined) return { ok: true, days: profile.validity.defaultDays };
  if (!Number.isSafeInteger(requested) || requested < 1) return { ok: false, detail: 'validityDays must be a positive whole number of days' };
  if (requested > profile.validity.maxDays) return { ok: false, detail: `validityDays ${requested} is beyond the ${profile.name} profile's maximum of ${profile.validity.maxDays}` };
  return { ok: true, days: requested };
}

/**
 * The name policy for this profile: the profile's SAN rules and every grant given must all allow each name; the CN
 * follows subject.common-name (from-san: kept only if it is a SAN; none: always dropped; from-request: kept as
 * given — CA profiles only, for ceremony-reviewed names, and still subject to ca/x509's name rules when built).
 */
export function decideProfileNames(profile: Profile, request: NameRequest, grants: readonly PolicyRuleSet[]): NameDecision {
  const mode = profile.subject.commonName;
  const { cn, ...sans } = request;
  const decision = decideNames(mode === 'from-san' ? request : sans, [{ source: `profile ${profile.name}`, rules: profile.san.rules }, ...grants], {
    wildcards: profile.san.wildcards,
    requireSan: profile.san.required,
    maxNames: profile.san.maxNames,
  });
  if (!decision.ok || mode === 'from-san' || cn === undefined) return decision;
  // eslint-disable-next-line no-control-regex
  if (typeof cn !== 'string' || /[\u0000-\u001f\u007f-\u009f]/.test(cn)) return { ok: false, code: 'bad_name', detail: `CN ${shownName(cn)}: contains a control character` };
  if (mode === 'none') return { ...decision, droppedCn: { value: cn, reason: `the ${profile.name} profile puts no CN in the subject` } };
  return { ...decision, cn };
}

/** The subject: the profile's fixed attributes, plus the CN the name decision kept. */
export function profileSubject(profile: Profile, cn: string | undefined): SubjectFields {
  return { ...profile.subject.fixed, ...(cn !== undefined ? { CN: cn } : {}) };
}

const EKU_KEYS: Record<EkuName, keyof typeof EKU> = {
  serverAuth: 'serverAuth',
  clientAuth: 'clientAuth',
  codeSigning: 'codeSigning',
  OCSPSigning: 'ocspSigning',
  timeStamping: 'timeStamping',
};

/** id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): extnValue is a DER NULL. */
export const OCSP_NOCHECK_OID = '1.3.6.1.5.5.7.48.1.5';

function ocspNoCheck(): Extension {
  return new Extension({ extnID: OCSP_NOCHECK_OID, critical: false, extnValue: new OctetString(Uint8Array.from([0x05, 0x00])) });
}

export interface ProfileExtensionInput {
  keyType: KeyType;
  /** The names the name policy accepted (decideProfileNames(...).names). */
  names: NormalizedNames;
  /** The subject will be empty: the SAN extension is then critical (RFC 5280 §4.2.1.6). */
  subjectEmpty: boolean;
}

/**
 * basicConstraints, keyUsage and extKeyUsage depend only on the profile and the key family: made once per pair
 * (frozen, shared by every certificate of that profile; they are only ever encoded) instead of per certificate.
 */
const fixedExtensions = new WeakMap<Profile, Map<string, readonly Extension[]>>();

function profileFixedExtensions(profile: Profile, keyType: KeyType): readonly Extension[] {
  const family = keyFamily(keyType);
  let byFamily = fixedExtensions.get(profile);
  const hit = byFamily?.get(family);
  if (hit) return hit;
  const usages = profile.keyUsage[family];
  if (!usages) throw new Error(`the ${profile.name} profile has no key usage for ${keyType}`);
  const out: Extension[] = [
    basicConstraints(profile.basicConstraints.ca ? { ca: true, pathLen: profile.basicConstraints.pathLen } : { ca: false }),
    keyUsage(usages),
  ];
  if (profile.extKeyUsage) out.push(extKeyUsage(profile.extKeyUsage.purposes.map((p) => EKU_KEYS[p]), { critical: profile.extKeyUsage.critical }));
  out.forEach((e) => Object.freeze(e));
  if (!byFamily) fixedExtensions.set(profile, (byFamily = new Map()));
  byFamily.set(family, Object.freeze(out));
  return out;
}

/** The profile's extensions, in a fixed order: basicConstraints, keyUsage, extKeyUsage, subjectAltName, extras. */
export function profileExtensions(profile: Profile, { keyType, names, subjectEmpty }: ProfileExtensionInput): Extension[] {
  if (!keyTypeAllowed(profile, keyType)) throw new Error(`key type ${keyType} is not allowed by the ${profile.name} profile`);
  const out: Extension[] = [...profileFixedExtensions(profile, keyType)];
  const count = names.dns.length + names.ip.length + names.uri.length + names.email.length;
  if (count > 0) out.push(subjectAltName(names, { critical: subjectEmpty, wildcards: profile.san.wildcards }));
  if (profile.extensions.ocspNoCheck) out.push(ocspNoCheck());
  return out;
}
