/**
 * What every ceremony type shares: its environment, the two phases (prepare: everything that can be checked
 * without the HSM; execute: the HSM part), and the last step — outputs written exclusively, then one signed
 * transcript entry.
 */
import { bytesEqual } from '../x509/der.ts';
import { HsmError, type KeyType, type SignatureAlgorithm, type Signer } from '../../hsm/index.ts';
import type { CeremonyHsm, ShareInput } from './context.ts';
import { CeremonyError } from './errors.ts';
import { writeExclusive } from './outputs.ts';
import type { Confirm } from './plan.ts';
import type { ShowShares } from './share-display.ts';
import { appendEntry, keyRecordFrom, sha256Hex, tokenRecordFrom, type CeremonyType, type KeyRecord, type OutputRecord, type TranscriptEntry } from './transcript.ts';

export interface CeremonyIo {
  out(line: string): void;
  err(line: string): void;
  confirm: Confirm;
}

export interface CeremonyEnv {
  configPath: string;
  /** Relative paths in the config are resolved against this directory. */
  baseDir: string;
  configSha256: string;
  operators: string[];
  custody: { threshold: number; custodians: string[] };
  transcriptPath: string;
  /** The transcript's verified entries before this ceremony (empty when it does not exist yet). */
  entries: TranscriptEntry[];
  io: CeremonyIo;
  yes: boolean;
  /** This process is the dry-run child: a throwaway token, temporary outputs. */
  dryRun: boolean;
  extras: CeremonyExtras;
}

/** What only key-backup and key-restore need from the command line. */
export interface CeremonyExtras {
  /** key-backup: the security officer's PIN (the token makes the trusted wrapping key only for the SO). */
  soPin?: () => Promise<string>;
  /** key-backup: write the KEK shares into this folder (rehearsals and tests only) instead of showing them. */
  kekShareDir?: string;
  /** key-restore: where the KEK custodians' shares come from. */
  kekShares?: ShareInput;
  /** key-backup: hands each KEK custodian their share on the terminal (default showSharesOnTerminal). */
  showShares?: ShowShares;
}

export interface SessionFacts {
  /** How many custodians gave a valid share. */
  present: number;
  /** The token PIN restored from the shares, for hsm/ calls that log in on their own (key backup). */
  pin: string;
  /** Opens the ceremony token again (the PIN is known good by then); the caller closes it. */
  reopen(): CeremonyHsm;
}

export interface Prepared {
  /** One line for the operators before the custodians are asked for their shares. */
  summary: string;
  execute(hsm: CeremonyHsm, facts: SessionFacts): Promise<void>;
  /** Forgets secrets prepare() collected (a restore's KEK), however the ceremony ends. */
  dispose?(): void;
}

export interface OutputFile {
  /** "outputs.certificate" */
  field: string;
  /** As written in the config (what the transcript records). */
  given: string;
  /** Absolute. */
  path: string;
}

export interface HsmKey {
  label: string;
  keyType: KeyType;
  spki: Uint8Array;
  spkiSha256: string;
  record: KeyRecord;
}

/**
 * The key named `label` on the ceremony token, which must have exactly the public key the config names (the
 * issuer certificate's, or the expected public key): otherwise the result would verify nowhere, or worse, under
 * a key nobody meant.
 */
export function ceremonyKey(hsm: CeremonyHsm, label: string, labelField: string, expected?: { spki: Uint8Array; field: string }): HsmKey {
  const where = `token "${hsm.token.label}" (serial ${hsm.token.serial})`;
  let pub;
  try {
    pub = hsm.store.publicKey({ label });
  } catch (e) {
    if (e instanceof HsmError && e.kind === 'key-not-found') throw new CeremonyError('hsm-mismatch', labelField, `no key labelled "${label}" on ${where}`);
    throw e;
  }
  if (expected && !bytesEqual(pub.spki, expected.spki)) {
    throw new CeremonyError(
      'hsm-mismatch',
      labelField,
      `the HSM key "${label}" on ${where} has public key SPKI sha256 ${pub.spkiSha256}, but ${expected.field} names SPKI sha256 ${sha256Hex(expected.spki)}: not the key this ceremony is for; nothing signed`,
    );
  }
  const listed = hsm.store.list().filter((k) => k.label === label);
  if (listed.length !== 1) throw new CeremonyError('hsm-mismatch', labelField, `${listed.length} private keys are labelled "${label}" on ${where}`);
  const info = listed[0]!;
  if (info.type === 'other' || info.spkiSha256 !== pub.spkiSha256) throw new CeremonyError('hsm-mismatch', labelField, `the key "${label}" on ${where} is not a key Strongroom signs with`);
  return { label, keyType: pub.keyType, spki: pub.spki, spkiSha256: pub.spkiSha256, record: keyRecordFrom({ ...info, type: info.type, spkiSha256: info.spkiSha256 }) };
}

export function tokenLines(hsm: CeremonyHsm, key?: { label: string; spkiSha256: string; keyType: string; algorithm?: SignatureAlgorithm }): string[] {
  const t = hsm.token;
  return [
    `  token:               "${t.label}" serial ${t.serial} (${t.manufacturer} ${t.model})`,
    ...(key ? [`  signing key:         "${key.label}" ${key.keyType}, SPKI sha256 ${key.spkiSha256}${key.algorithm ? `, signs ${key.algorithm}` : ''}`] : []),
  ];
}

export interface RecordRequest {
  type: CeremonyType;
  signer: Signer;
  keys: KeyRecord[];
  outputs: (OutputFile & { data: string | Uint8Array })[];
  details: Record<string, unknown>;
  present: number;
}

/** Writes every output exclusively, then appends the transcript entry signed by the ceremony's key. */
export async function writeAndRecord(env: CeremonyEnv, hsm: CeremonyHsm, req: RecordRequest): Promise<void> {
  const records: OutputRecord[] = [];
  for (const o of req.outputs) {
    const written = writeExclusive(o.path, o.data);
    records.push({ path: o.given, sha256: written.sha256 });
    env.io.out(`wrote ${o.path} (sha256 ${written.sha256})`);
  }
  const appended = await appendEntry(
    env.transcriptPath,
    {
      type: req.type,
      configSha256: env.configSha256,
      operators: env.operators,
      custodians: { threshold: env.custody.threshold, present: req.present },
      token: tokenRecordFrom(hsm.token),
      keys: req.keys,
      outputs: records,
      details: { ...req.details, ...(env.dryRun ? { dryRun: true } : {}) },
    },
    req.signer,
  );
  env.io.out(`transcript ${env.transcriptPath}: entry seq ${appended.entry.seq} appended, signed by SPKI sha256 ${appended.entry.signer.spkiSha256}`);
  env.io.out(`transcript head (record it on paper): ${appended.hash}`);
}
