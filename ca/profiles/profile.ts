/**
 * A certificate profile as the CA uses it, after profile-schema.ts has validated and converted the YAML. Everything
 * a certificate may carry beyond its public key, serial, issuer and validity dates comes from here — never from
 * the CSR, which contributes only its public key and the names the name policy lets through.
 */
import type { KeyUsageName } from '../x509/index.ts';
import type { RuleSet } from '../policy/index.ts';

export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export type KeyFamily = 'ec' | 'rsa';

export function keyFamily(type: KeyType): KeyFamily {
  return type.startsWith('ec-') ? 'ec' : 'rsa';
}

/** The keyUsage bits a profile may name (encipherOnly / decipherOnly are meaningless without keyAgreement DH). */
export const PROFILE_KEY_USAGES = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign'] as const satisfies readonly KeyUsageName[];
export type ProfileKeyUsage = (typeof PROFILE_KEY_USAGES)[number];

/** Extended key usages by their RFC 5280 names (id-kp-…). */
export const EKU_NAMES = ['serverAuth', 'clientAuth', 'codeSigning', 'OCSPSigning', 'timeStamping'] as const;
export type EkuName = (typeof EKU_NAMES)[number];

/** How the subject CN is decided. */
export const COMMON_NAME_MODES = [
  /** The CSR's CN, kept only if it equals a DNS or IP SAN (normalized); otherwise dropped. */
  'from-san',
  /** Never a CN: the subject is the fixed attributes only. */
  'none',
  /** The CN the caller gives (a ceremony's reviewed config). CA profiles only: a leaf CN is never free text. */
  'from-request',
] as const;
export type CommonNameMode = (typeof COMMON_NAME_MODES)[number];

/** Subject attributes a profile may fix (the CN is decided by `commonName`, never fixed here). */
export interface FixedSubject {
  C?: string;
  ST?: string;
  L?: string;
  O?: string;
  OU?: string;
}

export interface Profile {
  name: string;
  description: string;
  /** The file it was loaded from, for messages. */
  file: string;
  keyTypes: readonly KeyType[];
  validity: { maxDays: number; defaultDays: number };
  /** Per key family; present exactly for the families keyTypes allows. Always encoded critical. */
  keyUsage: Partial<Record<KeyFamily, readonly ProfileKeyUsage[]>>;
  /** Absent only in CA profiles. */
  extKeyUsage?: { purposes: readonly EkuName[]; critical: boolean };
  /** Always encoded critical. */
  basicConstraints: { ca: false } | { ca: true; pathLen: number };
  san: {
    required: boolean;
    maxNames: number;
    /** Wildcard certificates (`*.a.example`) may be requested, if a `*.` pattern allows them. */
    wildcards: boolean;
    /** Deny by default: a name type without rules is refused. */
    rules: RuleSet;
  };
  subject: { fixed: FixedSubject; commonName: CommonNameMode };
  /** Fixed extra extensions. */
  extensions: {
    /** id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1), for delegated OCSP responder certificates. */
    ocspNoCheck: boolean;
  };
}
