/**
 * Ceremony configuration: one reviewed YAML file per ceremony, dispatched on `type`. Strict everywhere: an unknown,
 * misspelled or missing key is refused before the HSM is opened, and the message names the field.
 */
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const time = z
  .string()
  .regex(ISO_TIME, 'a UTC time like 2026-12-01T00:00:00Z')
  .transform((s) => new Date(s))
  .refine((d) => !Number.isNaN(d.getTime()), 'not a valid date');

/** Ceremonies sign with keys of these kinds only (RSA e = 65537 is enforced at generation and by read-back). */
export const CEREMONY_KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;

const label = z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ -');
const path = z.string().min(1);

export const hsmSection = z.strictObject({
  module: z.string().min(1).default('/usr/lib/softhsm/libsofthsm2.so'),
  token: z
    .strictObject({ label: z.string().min(1).max(32).optional(), serial: z.string().min(1).max(16).optional() })
    .refine((t) => (t.label === undefined) !== (t.serial === undefined), 'give the token label or its serial (one of them)'),
});

export const custodySection = z
  .strictObject({
    // Dual control: one custodian alone must never be able to unlock a ceremony.
    threshold: z.number().int().min(2).max(255),
    custodians: z.array(z.string().min(1).max(64)).min(1).max(255),
  })
  .refine((c) => c.threshold <= c.custodians.length, { message: 'threshold exceeds the number of custodians', path: ['threshold'] })
  .refine((c) => new Set(c.custodians).size === c.custodians.length, { message: 'custodian names must be distinct', path: ['custodians'] });

const common = {
  operators: z.array(z.string().min(1).max(64)).min(1),
  hsm: hsmSection,
  custody: custodySection,
  transcript: path,
};

const subject = z
  .strictObject({
    C: z.string().length(2).optional(),
    ST: z.string().min(1).max(128).optional(),
    L: z.string().min(1).max(128).optional(),
    O: z.string().min(1).max(64).optional(),
    OU: z.string().min(1).max(64).optional(),
    CN: z.string().min(1).max(64),
  });

const signatureAlgorithm = z.enum(['ecdsa-sha256', 'ecdsa-sha384', 'rsa-pkcs1-sha256', 'rsa-pkcs1-sha384', 'rsa-pkcs1-sha512', 'rsa-pss-sha256', 'rsa-pss-sha384', 'rsa-pss-sha512']);
const url = z.url({ protocol: /^https?$/ });

export const rootKeyConfig = z.strictObject({
  type: z.literal('root-key'),
  ...common,
  key: z.strictObject({ label, type: z.enum(CEREMONY_KEY_TYPES), 'backup-capable': z.boolean().default(false) }),
  outputs: z.strictObject({ 'public-key': path }),
});

export const rootCertConfig = z.strictObject({
  type: z.literal('root-cert'),
  ...common,
  'signing-key': z.strictObject({ label }),
  inputs: z.strictObject({ 'public-key': path }),
  certificate: z.strictObject({
    subject,
    'not-before': time,
    'not-after': time,
    'path-length': z.number().int().min(0).max(8).optional(),
    'signature-algorithm': signatureAlgorithm.optional(),
  }),
  outputs: z.strictObject({ certificate: path }),
});

const nameConstraints = z.strictObject({
  'permitted-dns': z.array(z.string().min(1)).default([]),
  'excluded-dns': z.array(z.string().min(1)).default([]),
  'permitted-ip': z.array(z.string().min(1)).default([]),
  'excluded-ip': z.array(z.string().min(1)).default([]),
  'permitted-email': z.array(z.string().min(1)).default([]),
  'excluded-email': z.array(z.string().min(1)).default([]),
});

export const intermediateCertConfig = z.strictObject({
  type: z.literal('intermediate-cert'),
  ...common,
  'signing-key': z.strictObject({ label }),
  inputs: z
    .strictObject({ 'issuer-certificate': path, 'public-key': path.optional(), csr: path.optional() })
    .refine((i) => (i['public-key'] === undefined) !== (i.csr === undefined), 'give the subject public-key or its csr (one of them)'),
  certificate: z.strictObject({
    subject,
    'not-before': time,
    'not-after': time,
    'crl-url': url,
    'issuer-url': url,
    'ocsp-url': url,
    'name-constraints': nameConstraints.optional(),
    'signature-algorithm': signatureAlgorithm.optional(),
  }),
  outputs: z.strictObject({ certificate: path }),
});

export const crossCertConfig = z.strictObject({
  type: z.literal('cross-cert'),
  ...common,
  'signing-key': z.strictObject({ label }),
  inputs: z.strictObject({ 'issuer-certificate': path, 'certificate-to-cross-sign': path }),
  certificate: z.strictObject({
    'not-before': time,
    'not-after': time,
    'path-length': z.number().int().min(0).max(8).optional(),
    'crl-url': url.optional(),
    'issuer-url': url.optional(),
    'signature-algorithm': signatureAlgorithm.optional(),
  }),
  outputs: z.strictObject({ certificate: path }),
});

export const REVOCATION_REASONS = ['unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn', 'aACompromise'] as const;

export const rootCrlConfig = z.strictObject({
  type: z.literal('root-crl'),
  ...common,
  'signing-key': z.strictObject({ label }),
  inputs: z.strictObject({ 'issuer-certificate': path }),
  crl: z.strictObject({
    'this-update': time,
    'next-update': time,
    number: z.union([z.number().int().min(1), z.string().regex(/^[1-9][0-9]*$/)]).transform((n) => BigInt(n)),
    revoked: z
      .array(
        z.strictObject({
          serial: z.string().regex(/^[0-9a-fA-F]+$/, 'hex'),
          'revocation-date': time,
          reason: z.enum(REVOCATION_REASONS),
        }),
      )
      .default([]),
  }),
  outputs: z.strictObject({ crl: path }),
});

export const keyBackupConfig = z.strictObject({
  type: z.literal('key-backup'),
  ...common,
  key: z.strictObject({ label }),
  /** Custodians of the key-encryption key: a different quorum from the PIN's is allowed. */
  'kek-custody': custodySection,
  outputs: z.strictObject({ 'wrapped-key': path, 'public-key': path }),
});

export const keyRestoreConfig = z.strictObject({
  type: z.literal('key-restore'),
  ...common,
  key: z.strictObject({ label }),
  'kek-custody': custodySection,
  inputs: z.strictObject({ 'wrapped-key': path, 'public-key': path }),
  outputs: z.strictObject({ 'restore-proof': path }),
});

export const ceremonyConfig = z.discriminatedUnion('type', [rootKeyConfig, rootCertConfig, intermediateCertConfig, crossCertConfig, rootCrlConfig, keyBackupConfig, keyRestoreConfig]);

export type CeremonyConfig = z.infer<typeof ceremonyConfig>;
export type CeremonyType = CeremonyConfig['type'];

export class CeremonyConfigError extends Error {
  override readonly name = 'CeremonyConfigError';
}

/** Parses and validates; every problem names its field ("certificate.not-after: …"). */
export function parseCeremonyConfig(text: string): CeremonyConfig {
  let doc: unknown;
  try {
    // uniqueKeys: a key given twice is as suspicious as a misspelled one.
    doc = parseYaml(text, { strict: true, uniqueKeys: true, prettyErrors: true });
  } catch (e) {
    throw new CeremonyConfigError(`YAML: ${(e as Error).message}`);
  }
  const r = ceremonyConfig.safeParse(doc);
  if (!r.success) {
    const issues = r.error.issues.map((i) => {
      const where = i.path.join('.') || '(top level)';
      if (i.code === 'unrecognized_keys') return `unknown key(s) ${i.keys.map((k) => `"${[...i.path, k].join('.')}"`).join(', ')}`;
      if (i.code === 'invalid_type' && /received undefined/.test(i.message)) return `${where}: required field is missing`;
      return `${where}: ${i.message}`;
    });
    throw new CeremonyConfigError(issues.join('\n'));
  }
  return r.data;
}
