/**
 * The profile file schema: `profiles/<name>.yaml`, one profile per file. Strict throughout — an unknown or
 * misspelled key, a wrong type, a bad rule or a broken cross-field rule is an error naming the field
 * (`san.dns.allowed[2]: …`), and load-profiles.ts adds the file. Keys are kebab-case like the ceremony files.
 *
 *   name: tls-server                       # = the file name without .yaml; [a-z0-9] words joined by "-"
 *   description: TLS server certificates   # 1–200 characters
 *   key-types: [ec-p256, rsa-2048]         # ec-p256 ec-p384 rsa-2048 rsa-3072 rsa-4096; at least one
 *   validity:
 *     max-days: 397                        # 1–825 for leaves, 1–3653 (10 years) for CA profiles
 *     default-days: 90                     # optional (= max-days); ≤ max-days
 *   key-usage:                             # always critical; one list per key family the profile allows
 *     ec: [digitalSignature]
 *     rsa: [digitalSignature, keyEncipherment]
 *   ext-key-usage:                         # required for leaves, optional for CAs
 *     purposes: [serverAuth]               # serverAuth clientAuth codeSigning OCSPSigning timeStamping
 *     critical: false                      # optional, default false
 *   basic-constraints:                     # always critical
 *     ca: false                            # CA profiles: ca: true and path-len: 0..8
 *   san:                                   # optional; absent = the certificate carries no SAN
 *     required: true                       # default false: at least one SAN in the request
 *     max-names: 100                       # default 100, 1–1000
 *     dns: { allowed: ['*.svc.internal', api.example.com], wildcards: false }
 *     ip: { allowed: [10.0.0.0/8, 'fd00::/8', 127.0.0.1] }
 *     uri: { allowed: ['spiffe://example.org/'] }
 *     email: { allowed: [example.org, '*.example.org', alice@example.org] }
 *   subject:
 *     fixed: { O: Example, OU: Services, C: DE }   # C ST L O OU; never CN
 *     common-name: from-san                # from-san (default) | none | from-request (CA profiles only)
 *   extensions:                            # optional fixed extras
 *     ocsp-no-check: false                 # id-pkix-ocsp-nocheck; only with ext-key-usage [OCSPSigning]
 *
 * Rules between fields:
 *   - key-usage: a list for each key family in key-types, none for the others; no duplicates; EC keys never get
 *     keyEncipherment or dataEncipherment (ECDSA keys do not encrypt), RSA keys never keyAgreement;
 *     keyEncipherment (TLS 1.2 RSA key transport) only with serverAuth; keyCertSign and cRLSign exactly in CA
 *     profiles (both required there);
 *   - ext-key-usage: no duplicates; timeStamping alone and critical (RFC 3161 §2.3); OCSPSigning alone;
 *   - basic-constraints: path-len only and always with ca: true;
 *   - validity: the limits above (TLS leaves at 825 days is the old CA/Browser Forum ceiling; every leaf is held to
 *     it; an issuing CA to 10 years, as the ceremonies' intermediates);
 *   - san: a type section lists at least one rule (leave it out to deny the type); `wildcards: true` needs a `*.`
 *     pattern; `required: true` needs at least one type; with neither required SANs nor fixed subject attributes
 *     (nor a CA's from-request CN) a certificate could end up with no name at all, so that is refused;
 *   - subject.fixed must encode under ca/x509's name rules (C is two uppercase letters, O/OU ≤ 64 characters …).
 */
import { z } from 'zod';
import { X509Error, buildName } from '../x509/index.ts';
import { EMPTY_RULE_SET, RULE_PARSERS, type NameType, type RuleSet } from '../policy/index.ts';
import { COMMON_NAME_MODES, EKU_NAMES, KEY_TYPES, PROFILE_KEY_USAGES, keyFamily, type KeyFamily, type Profile } from './profile.ts';

/** Validity ceilings (days). */
export const LEAF_MAX_VALIDITY_DAYS = 825;
export const CA_MAX_VALIDITY_DAYS = 3653;
export const DEFAULT_MAX_NAMES = 100;

const PROFILE_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

function unique<T extends z.ZodType>(item: T, what: string) {
  return z
    .array(item)
    .min(1, `at least one ${what}`)
    .superRefine((list, ctx) => {
      list.forEach((v, i) => {
        if (list.indexOf(v) !== i) ctx.addIssue({ code: 'custom', message: `duplicate ${what} ${JSON.stringify(v)}`, path: [i] });
      });
    });
}

/** One rule, parsed by the name policy's own parser: what the policy will match is exactly what was validated. */
function rule<T extends NameType>(type: T) {
  return z.string().transform((text, ctx): RuleSet[T][number] => {
    const r = RULE_PARSERS[type](text);
    if (r.ok) return r.value as RuleSet[T][number];
    ctx.addIssue({ code: 'custom', message: r.why });
    return z.NEVER;
  });
}

const rules = <T extends NameType>(type: T) => z.array(rule(type)).min(1, 'list at least one rule, or leave the section out to allow none');

const keyUsageList = unique(z.enum(PROFILE_KEY_USAGES), 'key usage');

const subjectValue = z.string().min(1).max(64);

export const profileSchema = z
  .strictObject({
    name: z.string().max(64).regex(PROFILE_NAME, 'lowercase letters and digits, words joined by "-"'),
    description: z.string().min(1).max(200),
    'key-types': unique(z.enum(KEY_TYPES), 'key type'),
    validity: z.strictObject({
      'max-days': z.number().int().min(1),
      'default-days': z.number().int().min(1).optional(),
    }),
    'key-usage': z.strictObject({ ec: keyUsageList.optional(), rsa: keyUsageList.optional() }),
    'ext-key-usage': z
      .strictObject({
        purposes: unique(z.enum(EKU_NAMES), 'purpose'),
        critical: z.boolean().default(false),
      })
      .optional(),
    'basic-constraints': z.strictObject({
      ca: z.boolean(),
      'path-len': z.number().int().min(0).max(8).optional(),
    }),
    san: z
      .strictObject({
        required: z.boolean().default(false),
        'max-names': z.number().int().min(1).max(1000).default(DEFAULT_MAX_NAMES),
        dns: z.strictObject({ allowed: rules('dns'), wildcards: z.boolean().default(false) }).optional(),
        ip: z.strictObject({ allowed: rules('ip') }).optional(),
        uri: z.strictObject({ allowed: rules('uri') }).optional(),
        email: z.strictObject({ allowed: rules('email') }).optional(),
      })
      .optional(),
    subject: z.strictObject({
      fixed: z
        .strictObject({
          C: z.string().optional(),
          ST: z.string().min(1).max(128).optional(),
          L: z.string().min(1).max(128).optional(),
          O: subjectValue.optional(),
          OU: subjectValue.optional(),
        })
        .default({}),
      'common-name': z.enum(COMMON_NAME_MODES).default('from-san'),
    }),
    extensions: z.strictObject({ 'ocsp-no-check': z.boolean().default(false) }).default({ 'ocsp-no-check': false }),
  })
  .superRefine((p, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', message, path });
    const ca = p['basic-constraints'].ca;

    // Validity.
    const limit = ca ? CA_MAX_VALIDITY_DAYS : LEAF_MAX_VALIDITY_DAYS;
    const max = p.validity['max-days'];
    if (max > limit) issue(['validity', 'max-days'], `${max} days is beyond the ${ca ? 'CA' : 'leaf'} limit of ${limit} days`);
    const def = p.validity['default-days'];
    if (def !== undefined && def > max) issue(['validity', 'default-days'], `${def} days is more than max-days (${max})`);

    // Basic constraints.
    if (ca && p['basic-constraints']['path-len'] === undefined) issue(['basic-constraints', 'path-len'], 'a CA profile states its path length (0 for an issuing CA)');
    if (!ca && p['basic-constraints']['path-len'] !== undefined) issue(['basic-constraints', 'path-len'], 'path-len only with ca: true');

    // Extended key usage.
    const eku = p['ext-key-usage'];
    const purposes: readonly string[] = eku?.purposes ?? [];
    if (!ca && !eku) issue(['ext-key-usage'], 'a leaf profile names its extended key usages');
    if (eku) {
      if (purposes.includes('timeStamping') && (purposes.length > 1 || !eku.critical)) {
        issue(['ext-key-usage'], 'timeStamping must be the only purpose and critical (RFC 3161 §2.3)');
      }
      if (purposes.includes('OCSPSigning') && purposes.length > 1) issue(['ext-key-usage', 'purposes'], 'OCSPSigning must be the only purpose');
    }

    // Key usage, per key family.
    const families = new Set<KeyFamily>(p['key-types'].map(keyFamily));
    for (const family of ['ec', 'rsa'] as const) {
      const list = p['key-usage'][family];
      const path = ['key-usage', family];
      if (!families.has(family)) {
        if (list) issue(path, `key-types allows no ${family.toUpperCase()} keys`);
        continue;
      }
      if (!list) {
        issue(path, `required: key-types allows ${family.toUpperCase()} keys`);
        continue;
      }
      const has = (u: string) => (list as readonly string[]).includes(u);
      if (family === 'ec') for (const u of ['keyEncipherment', 'dataEncipherment']) if (has(u)) issue(path, `${u}: an EC signing key does not encrypt`);
      if (family === 'rsa' && has('keyAgreement')) issue(path, 'keyAgreement: an RSA key does not do key agreement');
      if (has('keyEncipherment') && !purposes.includes('serverAuth')) issue(path, 'keyEncipherment (RSA key transport) is for TLS servers only (serverAuth)');
      for (const u of ['keyCertSign', 'cRLSign']) {
        if (ca && !has(u)) issue(path, `a CA profile needs ${u}`);
        if (!ca && has(u)) issue(path, `${u} only in CA profiles (basic-constraints.ca: true)`);
      }
    }

    // SAN rules.
    const san = p.san;
    const types = san ? (['dns', 'ip', 'uri', 'email'] as const).filter((t) => san[t]) : [];
    if (san?.dns?.wildcards && !san.dns.allowed.some((r) => r.wildcard)) issue(['san', 'dns', 'wildcards'], 'true, but no "*." pattern in san.dns.allowed could match a wildcard name');
    if (san?.required && types.length === 0) issue(['san', 'required'], 'true, but no SAN type is allowed');

    // Subject.
    const subject = p.subject;
    if (subject['common-name'] === 'from-request' && !ca) issue(['subject', 'common-name'], 'from-request only in CA profiles: a leaf CN must be one of its SANs');
    try {
      buildName(subject.fixed);
    } catch (e) {
      if (!(e instanceof X509Error)) throw e;
      issue(['subject', 'fixed'], e.message);
    }
    if (!san?.required && Object.keys(subject.fixed).length === 0 && subject['common-name'] !== 'from-request') {
      issue(['subject', 'fixed'], 'give fixed subject attributes (or require a SAN): a certificate must not end up with no name at all');
    }

    // Fixed extensions.
    if (p.extensions['ocsp-no-check'] && !(purposes.length === 1 && purposes[0] === 'OCSPSigning')) {
      issue(['extensions', 'ocsp-no-check'], 'only for OCSP responder certificates (ext-key-usage purposes: [OCSPSigning])');
    }
  })
  .transform((p): Omit<Profile, 'file'> => {
    const bc = p['basic-constraints'];
    const san = p.san;
    return {
      name: p.name,
      description: p.description,
      keyTypes: p['key-types'],
      validity: { maxDays: p.validity['max-days'], defaultDays: p.validity['default-days'] ?? p.validity['max-days'] },
      keyUsage: { ...(p['key-usage'].ec ? { ec: p['key-usage'].ec } : {}), ...(p['key-usage'].rsa ? { rsa: p['key-usage'].rsa } : {}) },
      ...(p['ext-key-usage'] ? { extKeyUsage: { purposes: p['ext-key-usage'].purposes, critical: p['ext-key-usage'].critical } } : {}),
      basicConstraints: bc.ca ? { ca: true, pathLen: bc['path-len'] ?? 0 } : { ca: false },
      san: {
        required: san?.required ?? false,
        maxNames: san?.['max-names'] ?? DEFAULT_MAX_NAMES,
        wildcards: san?.dns?.wildcards ?? false,
        rules: san
          ? { dns: san.dns?.allowed ?? [], ip: san.ip?.allowed ?? [], uri: san.uri?.allowed ?? [], email: san.email?.allowed ?? [] }
          : EMPTY_RULE_SET,
      },
      subject: { fixed: p.subject.fixed, commonName: p.subject['common-name'] },
      extensions: { ocspNoCheck: p.extensions['ocsp-no-check'] },
    };
  });

export type ProfileDocument = z.input<typeof profileSchema>;
