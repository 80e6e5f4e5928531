/**
 * One transcript entry: its shape, its strict schema (unknown or missing fields are refused), and the small
 * conversions from what the HSM layer reports (a generated key, a token description) into the records an entry
 * carries.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { KEY_TYPES, SIGNATURE_ALGORITHMS, type KeyType, type SignatureAlgorithm } from '../../hsm/key-spec.ts';

export const CEREMONY_TYPES = ['root-key', 'root-cert', 'intermediate-cert', 'root-crl', 'cross-cert', 'key-backup', 'key-restore'] as const;
export type CeremonyType = (typeof CEREMONY_TYPES)[number];

export { SIGNATURE_ALGORITHMS };

/** SHA-256 of the previous line, for the first entry. */
export const GENESIS_PREV_HASH = '0'.repeat(64);

export interface KeyAttributes {
  local: boolean;
  neverExtractable: boolean;
  alwaysSensitive: boolean;
  sensitive: boolean;
  extractable: boolean;
}

export interface KeyRecord {
  label: string;
  /** CKA_ID, lowercase hex. */
  id: string;
  type: KeyType;
  spkiSha256: string;
  /** As read back from the token after generation (or restore), never as requested. */
  attributes: KeyAttributes;
}

export interface TokenRecord {
  manufacturer: string;
  model: string;
  serial: string;
  label: string;
}

export interface OutputRecord {
  path: string;
  sha256: string;
}

export interface SignerRecord {
  /** DER SubjectPublicKeyInfo, standard base64: verification needs nothing but the entry. */
  spki: string;
  /** Hex SHA-256 of the DER SPKI: what operators compare with the fingerprint on paper. */
  spkiSha256: string;
  algorithm: SignatureAlgorithm;
}

export interface TranscriptEntry {
  seq: number;
  /** ISO 8601 UTC, e.g. 2025-01-31T10:00:00.000Z. */
  time: string;
  type: CeremonyType;
  /** SHA-256 of the ceremony YAML file's bytes. */
  configSha256: string;
  operators: string[];
  /** How many custodians the quorum needs and how many entered a share. Never the shares. */
  custodians: { threshold: number; present: number };
  token: TokenRecord;
  keys: KeyRecord[];
  outputs: OutputRecord[];
  /** Ceremony-specific facts (JSON only); a root-crl entry carries `crlNumber` as a decimal string. */
  details?: { [key: string]: unknown };
  prevHash: string;
  signer: SignerRecord;
  /** Standard base64 of the signature (DER for ECDSA). */
  signature: string;
}

/** What a ceremony hands to appendEntry: the transcript fills in seq, prevHash, signer and signature. */
export type EntryInput = Omit<TranscriptEntry, 'seq' | 'time' | 'prevHash' | 'signer' | 'signature'> & { time?: string };

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');
const name = z.string().min(1, 'must not be empty');
const count = z.number().int().min(0);
/** Canonical standard base64 only: one encoding per byte string, so a re-encoded value is a changed line. */
const base64 = z
  .string()
  .min(1)
  .refine((s) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) && Buffer.from(s, 'base64').toString('base64') === s, 'expected canonical base64');
const isoTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/, 'expected an ISO 8601 UTC time')
  .refine((s) => !Number.isNaN(Date.parse(s)) && new Date(s).toISOString().slice(0, 19) === s.slice(0, 19), 'not a real date and time');
export const DECIMAL = /^(0|[1-9][0-9]*)$/;

const keyRecord = z.strictObject({
  label: z.string(),
  id: z.string().regex(/^([0-9a-f]{2})*$/, 'expected lowercase hex'),
  type: z.enum(KEY_TYPES),
  spkiSha256: hex64,
  attributes: z.strictObject({
    local: z.boolean(),
    neverExtractable: z.boolean(),
    alwaysSensitive: z.boolean(),
    sensitive: z.boolean(),
    extractable: z.boolean(),
  }),
});

const body = {
  type: z.enum(CEREMONY_TYPES),
  configSha256: hex64,
  operators: z.array(name).min(1, 'at least one operator'),
  custodians: z
    .strictObject({ threshold: count, present: count })
    .refine((c) => c.present >= c.threshold, 'fewer custodians present than the threshold'),
  token: z.strictObject({ manufacturer: z.string(), model: z.string(), serial: z.string(), label: z.string() }),
  keys: z.array(keyRecord),
  outputs: z.array(z.strictObject({ path: name, sha256: hex64 })),
  details: z.record(z.string(), z.unknown()).optional(),
};

function crlNumberCheck(e: { type: CeremonyType; details?: Record<string, unknown> | undefined }, ctx: z.RefinementCtx): void {
  if (e.type !== 'root-crl') return;
  const n = e.details?.crlNumber;
  if (typeof n !== 'string' || !DECIMAL.test(n)) ctx.addIssue({ code: 'custom', path: ['details', 'crlNumber'], message: 'a root-crl entry needs details.crlNumber as a decimal string' });
}

export const entrySchema = z
  .strictObject({
    seq: z.number().int().min(1),
    time: isoTime,
    ...body,
    prevHash: hex64,
    signer: z.strictObject({ spki: base64, spkiSha256: hex64, algorithm: z.enum(SIGNATURE_ALGORITHMS) }),
    // Only "a string" here: an undecodable signature is a bad signature, not a malformed line.
    signature: z.string(),
  })
  .superRefine(crlNumberCheck);

export const inputSchema = z.strictObject({ ...body, time: isoTime.optional() }).superRefine(crlNumberCheck);

/** The first schema problem as "field.path: message". */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** The key record for a key as the key store generated or listed it (attributes read back from the token). */
export function keyRecordFrom(key: {
  label: string;
  id: string;
  type: KeyType;
  spkiSha256: string;
  protection: KeyAttributes;
}): KeyRecord {
  const p = key.protection;
  return {
    label: key.label,
    id: key.id,
    type: key.type,
    spkiSha256: key.spkiSha256,
    attributes: { local: p.local, neverExtractable: p.neverExtractable, alwaysSensitive: p.alwaysSensitive, sensitive: p.sensitive, extractable: p.extractable },
  };
}

export function tokenRecordFrom(token: TokenRecord): TokenRecord {
  return { manufacturer: token.manufacturer, model: token.model, serial: token.serial, label: token.label };
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The output record for a file a ceremony wrote: its path as given and the SHA-256 of its bytes. */
export async function outputRecord(path: string): Promise<OutputRecord> {
  return { path, sha256: sha256Hex(await readFile(path)) };
}
