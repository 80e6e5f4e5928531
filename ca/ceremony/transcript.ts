/**
 * The ceremony transcript: a JSON-lines file, one signed entry per ceremony, each chained to the one before.
 *
 * Bytes, exactly:
 * - Every line is the RFC 8785 canonical JSON (ca/encoding/canonical-json.ts) of the complete entry, signature included,
 *   followed by "\n". The verifier refuses a line that is not in canonical form, so a line has one possible
 *   spelling and "the bytes of the line" and "the canonical encoding of the entry" are the same thing.
 * - The signed bytes are the UTF-8 canonical JSON of the entry without its `signature` member (seq, prevHash and
 *   the signer's SPKI included). No prefix is needed for domain separation: the key that signs transcript entries
 *   otherwise signs only DER (certificates, CRLs), which starts with 0x30, and canonical JSON starts with "{".
 * - `prevHash` is the lowercase hex SHA-256 of the previous line's exact bytes without its "\n" (64 zeros for the
 *   first entry). Exact bytes rather than a re-canonicalised parse: the verifier hashes what is on disk without
 *   having to trust or even parse it, an outsider reproduces a link with `sed -n Np | tr -d '\n' | sha256sum`,
 *   and because the hash covers the previous signature too, replacing a signature — even with another valid one —
 *   breaks the chain at the next entry.
 * - `seq` starts at 1 and counts up by one, so in an intact transcript line N holds seq N.
 *
 * Trust: each entry carries the signer's SPKI, so a transcript verifies on its own. Without pinned keys that only
 * proves self-consistency — the first entry's signer is trusted on first use, and a later entry may be signed by
 * another key only if that key is recorded in the `keys` of the same or an earlier entry (a root-key ceremony signs
 * its own entry with the key it generated). Whoever can write the file can still replace it wholesale with a
 * transcript of their own key: pin the root's public key (`trustedSpkis`, e.g. via trustedSpkiFrom(root.pem)) for
 * real assurance, and record the head hash on paper to detect entries removed from the end (`expectedHead`).
 */
import { createPublicKey, constants, verify as nodeVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { KeyType, SignatureAlgorithm } from '../../hsm/key-spec.ts';
import { algorithmFits } from '../../hsm/key-spec.ts';
import { ecdsaDerToRaw } from '../../hsm/signature-encoding.ts';
import type { Signer } from '../../hsm/signer.ts';
import { canonicalJson, canonicalJsonBytes, CanonicalJsonError } from '../encoding/canonical-json.ts';
import {
  DECIMAL,
  describeIssue,
  entrySchema,
  GENESIS_PREV_HASH,
  inputSchema,
  sha256Hex,
  type EntryInput,
  type TranscriptEntry,
} from './transcript-entry.ts';

export * from './transcript-entry.ts';

export class TranscriptError extends Error {
  override readonly name = 'TranscriptError';
}

export type ProblemKind = 'edited' | 'removed' | 'reordered' | 'bad-signature' | 'malformed' | 'untrusted-signer';

export interface TranscriptProblem {
  /** 1-based line of the file where the problem shows (for 'removed': where the missing entries should be). */
  line: number;
  /** The entry's seq; for 'removed' the first missing seq; null when the line cannot be read at all. */
  seq: number | null;
  kind: ProblemKind;
  message: string;
}

export interface VerifyOptions {
  /** DER SPKIs every entry must be signed by (e.g. the root's); without them, trust on first use (see above). */
  trustedSpkis?: Uint8Array[];
  /** The hash of a line recorded earlier (e.g. on paper): it must still be in the transcript. */
  expectedHead?: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Entries that verified with no problem of their own, in file order. */
  entries: TranscriptEntry[];
  problems: TranscriptProblem[];
  /** The last line, when it is a verified entry: the seq and hash the next entry chains to. */
  head?: { line: number; seq: number; hash: string };
  /** Hex SHA-256 of every SPKI that produced a valid signature, in order of first appearance. */
  signers: string[];
  pinned: boolean;
}

interface Line {
  no: number;
  bytes: Buffer;
  hash: string;
  /** Null when the line is not JSON at all. */
  parsed: unknown;
  /** Schema-valid entry. */
  entry?: TranscriptEntry;
  /** The entry's signature verifies over its content with the key it names. */
  signed: boolean;
  /** Where the line stands in the sequence: its own seq when signed, else inferred from its position. */
  slot?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Verification

export async function verifyTranscript(path: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new TranscriptError(`cannot read transcript ${path}: ${(e as Error).message}`);
  }
  return verifyTranscriptBytes(bytes, options);
}

export function verifyTranscriptBytes(bytes: Uint8Array, options: VerifyOptions = {}): VerifyResult {
  const problems: TranscriptProblem[] = [];
  const problemAt = new Map<number, TranscriptProblem>();
  const report = (p: TranscriptProblem) => {
    problems.push(p);
    if (!problemAt.has(p.line)) problemAt.set(p.line, p);
  };

  const { lines, incomplete } = splitLines(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

  // Pass 1, line by line: readable, well-formed, signature valid over the content, canonical.
  for (const line of lines) {
    const last = line.no === lines.length;
    if (last && incomplete) {
      report({ line: line.no, seq: null, kind: 'malformed', message: `line ${line.no} is incomplete: the file does not end with a newline (truncated or interrupted write)` });
      continue;
    }
    const text = decodeUtf8(line.bytes);
    if (line.bytes.length === 0 || text === undefined) {
      report({ line: line.no, seq: null, kind: 'malformed', message: `line ${line.no} is ${line.bytes.length === 0 ? 'blank' : 'not UTF-8'}` });
      continue;
    }
    try {
      line.parsed = JSON.parse(text) as unknown;
    } catch {
      report({ line: line.no, seq: null, kind: 'malformed', message: `line ${line.no} is not JSON (truncated, or something else was written into the transcript)` });
      continue;
    }
    const schema = entrySchema.safeParse(line.parsed);
    if (!schema.success) {
      report({ line: line.no, seq: claimedSeq(line.parsed), kind: 'malformed', message: `line ${line.no} is not a transcript entry: ${describeIssue(schema.error)}` });
      continue;
    }
    const entry = line.parsed as TranscriptEntry;
    line.entry = entry;
    const check = checkSignature(entry);
    if (check !== true) {
      report({ line: line.no, seq: entry.seq, kind: check.kind, message: `line ${line.no} (seq ${entry.seq}): ${check.message}` });
      continue;
    }
    line.signed = true;
    if (canonicalJson(line.parsed) !== text) {
      report({
        line: line.no,
        seq: entry.seq,
        kind: 'malformed',
        message: `line ${line.no} (seq ${entry.seq}) is not in canonical form: its signed content is intact but the line was reformatted, so its bytes are not the ones the next entry chained to`,
      });
    }
  }

  const signed = lines.filter((l) => l.signed);

  // Pass 2, trust: pinned keys, or trust on first use plus keys introduced by the entries themselves.
  const pins = options.trustedSpkis?.map((s) => sha256Hex(s));
  const signers: string[] = [];
  const introduced = new Set<string>();
  let firstSigner: string | undefined;
  for (const line of signed) {
    const e = line.entry!;
    const who = e.signer.spkiSha256;
    if (!signers.includes(who)) signers.push(who);
    let trusted: boolean;
    if (pins) trusted = pins.includes(who);
    else {
      firstSigner ??= who;
      trusted = who === firstSigner || introduced.has(who) || e.keys.some((k) => k.spkiSha256 === who);
    }
    if (trusted) {
      for (const k of e.keys) introduced.add(k.spkiSha256);
    } else {
      report({
        line: line.no,
        seq: e.seq,
        kind: 'untrusted-signer',
        message: pins
          ? `line ${line.no} (seq ${e.seq}) is signed by key ${who.slice(0, 16)}…, which is not a pinned key`
          : `line ${line.no} (seq ${e.seq}) is signed by key ${who.slice(0, 16)}…, neither the transcript's first signer nor a key recorded by an entry`,
      });
    }
  }

  // Pass 3, structure. Signed entries carry authentic seq and prevHash: they alone decide order and gaps.
  const bySeq = new Map<number, Line>();
  const ordered: Line[] = [];
  for (const line of signed) {
    const e = line.entry!;
    const first = bySeq.get(e.seq);
    if (first) {
      report({
        line: line.no,
        seq: e.seq,
        kind: 'edited',
        message: first.hash === line.hash
          ? `line ${line.no} repeats line ${first.no} (seq ${e.seq}): an entry was copied into the transcript`
          : `line ${line.no} is a second entry with seq ${e.seq} (the first is at line ${first.no}): an entry was inserted`,
      });
      continue;
    }
    bySeq.set(e.seq, line);
    line.slot = e.seq;
    ordered.push(line);
  }

  // Out of order: the entries outside the longest run whose seqs increase with the line number.
  const keep = longestIncreasing(ordered.map((l) => l.entry!.seq));
  ordered.forEach((line, i) => {
    if (keep.has(i)) return;
    const s = line.entry!.seq;
    const before = ordered.slice(0, i).filter((o) => o.entry!.seq > s);
    const after = bySeq.get(s - 1);
    const where = after ? `it belongs after seq ${s - 1} (line ${after.no})` : 'it belongs earlier';
    report({
      line: line.no,
      seq: s,
      kind: 'reordered',
      message: `line ${line.no} (seq ${s}) comes after ${before.map((b) => `seq ${b.entry!.seq} (line ${b.no})`).join(' and ')}: ${where}`,
    });
  });

  // Lines that are not signed entries stand in for the slot their position implies (an edited entry is still
  // there, just not authentic), so they do not also count as removed.
  let lastSeq = 0;
  let run = 0;
  for (const line of lines) {
    if (line.signed && line.slot !== undefined) {
      lastSeq = line.slot;
      run = 0;
    } else if (!line.signed) {
      run += 1;
      line.slot = lastSeq + run;
    }
  }
  const maxSeq = ordered.reduce((m, l) => Math.max(m, l.entry!.seq), 0);
  const atSlot = new Map<number, Line>(ordered.map((l) => [l.slot!, l]));
  for (const l of lines) if (!l.signed && !atSlot.has(l.slot!)) atSlot.set(l.slot!, l);
  // Walk the gaps between occupied slots (not every integer: a forged seq of 10^15 must not hang the verifier).
  const occupied = [...atSlot.keys()].filter((s) => s >= 1 && s <= maxSeq).sort((x, y) => x - y);
  let previous = 0;
  for (const slot of occupied) {
    if (slot > previous + 1) {
      const [s, end] = [previous + 1, slot - 1];
      const next = atSlot.get(slot)!;
      const prev = atSlot.get(previous);
      const what = end === s ? `entry seq ${s} is missing` : `entries seq ${s} to ${end} are missing`;
      const between = prev ? `between seq ${previous} (line ${prev.no}) and seq ${slot} (line ${next.no})` : `before seq ${slot} (line ${next.no})`;
      report({ line: next.no, seq: s, kind: 'removed', message: `${what} ${between}: removed from the transcript` });
    }
    previous = slot;
  }

  // The chain: each signed entry names the hash of the line holding the seq before it.
  for (const line of ordered) {
    const e = line.entry!;
    if (e.seq === 1 || e.prevHash === GENESIS_PREV_HASH) {
      if ((e.seq === 1) !== (e.prevHash === GENESIS_PREV_HASH)) {
        report({
          line: line.no,
          seq: e.seq,
          kind: 'malformed',
          message: e.seq === 1 ? `line ${line.no}: entry seq 1 does not start the chain (its prevHash is not zero)` : `line ${line.no}: entry seq ${e.seq} claims to start a chain (zero prevHash)`,
        });
      }
      continue;
    }
    // The line in the slot before: a signed entry, or a line that stands in for it (e.g. an edited entry).
    const prev = atSlot.get(e.seq - 1);
    if (!prev || prev.hash === e.prevHash) continue;
    const known = problemAt.get(prev.no);
    if (known) {
      if (known.kind === 'edited' || known.kind === 'bad-signature') known.message += `; the chain breaks there too: seq ${e.seq} (line ${line.no}) was chained to another line`;
      continue;
    }
    report({
      line: prev.no,
      seq: e.seq - 1,
      kind: 'edited',
      message: `line ${prev.no} (seq ${e.seq - 1}) is not the line that seq ${e.seq} (line ${line.no}) was chained to: it was replaced by another signed entry or its signature was changed`,
    });
  }

  if (options.expectedHead !== undefined && !lines.some((l) => l.hash === options.expectedHead && !problemAt.has(l.no))) {
    report({
      line: lines.length + 1,
      seq: maxSeq + 1,
      kind: 'removed',
      message: `no verified line has the recorded head hash ${options.expectedHead}: entries were removed from the end, or the transcript was replaced`,
    });
  }

  problems.sort((a, b) => a.line - b.line);
  const lastLine = lines[lines.length - 1];
  const verified = lines.filter((l) => l.signed && !problems.some((p) => p.line === l.no));
  return {
    ok: problems.length === 0,
    entries: verified.map((l) => l.entry!),
    problems,
    ...(lastLine?.signed && !problemAt.has(lastLine.no) && !incomplete ? { head: { line: lastLine.no, seq: lastLine.entry!.seq, hash: lastLine.hash } } : {}),
    signers,
    pinned: pins !== undefined,
  };
}

function splitLines(bytes: Buffer): { lines: Line[]; incomplete: boolean } {
  const lines: Line[] = [];
  let start = 0;
  while (start < bytes.length) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl;
    const b = bytes.subarray(start, end);
    lines.push({ no: lines.length + 1, bytes: b, hash: sha256Hex(b), parsed: undefined, signed: false });
    start = end + 1;
  }
  return { lines, incomplete: bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function decodeUtf8(b: Buffer): string | undefined {
  try {
    return utf8.decode(b);
  } catch {
    return undefined;
  }
}

function claimedSeq(v: unknown): number | null {
  const seq = (v as { seq?: unknown } | null)?.seq;
  return typeof v === 'object' && typeof seq === 'number' && Number.isInteger(seq) ? seq : null;
}

/** Indexes of one longest strictly increasing subsequence; among equals, the one keeping earlier lines. */
function longestIncreasing(seqs: number[]): Set<number> {
  const len = seqs.map(() => 1);
  const from = seqs.map(() => -1);
  for (let i = 0; i < seqs.length; i++) {
    for (let j = 0; j < i; j++) {
      if (seqs[j]! < seqs[i]! && len[j]! + 1 > len[i]!) {
        len[i] = len[j]! + 1;
        from[i] = j;
      }
    }
  }
  let best = -1;
  for (let i = 0; i < seqs.length; i++) if (best === -1 || len[i]! > len[best]!) best = i;
  const keep = new Set<number>();
  for (let i = best; i !== -1; i = from[i]!) keep.add(i);
  return keep;
}

// ---------------------------------------------------------------------------------------------------------------
// Signatures

/** The bytes an entry's signature covers. */
export function signedBytes(entry: Omit<TranscriptEntry, 'signature'> & { signature?: string }): Buffer {
  const { signature: _signature, ...unsigned } = entry;
  return canonicalJsonBytes(unsigned);
}

const HASH: Record<SignatureAlgorithm, string | null> = {
  'ecdsa-sha256': 'sha256',
  'ecdsa-sha384': 'sha384',
  'rsa-pkcs1-sha256': 'sha256',
  'rsa-pkcs1-sha384': 'sha384',
  'rsa-pkcs1-sha512': 'sha512',
  'rsa-pss-sha256': 'sha256',
  'rsa-pss-sha384': 'sha384',
  'rsa-pss-sha512': 'sha512',
  ed25519: null,
};
const HASH_LEN: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

function keyTypeOf(key: KeyObject): KeyType | undefined {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return d.namedCurve === 'prime256v1' ? 'ec-p256' : d.namedCurve === 'secp384r1' ? 'ec-p384' : undefined;
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'rsa' && [2048, 3072, 4096].includes(d.modulusLength ?? 0)) return `rsa-${d.modulusLength}` as KeyType;
  return undefined;
}

/**
 * true when the entry's signature verifies with the key it names; otherwise 'bad-signature' when the signature or
 * signer block cannot even be checked (undecodable, not a well-formed signature for the algorithm, SPKI and its
 * hash disagree), or 'edited' when a well-formed signature does not match the content: the entry (or the
 * signature) was changed after signing.
 */
function checkSignature(e: TranscriptEntry): true | { kind: 'bad-signature' | 'edited'; message: string } {
  const bad = (message: string) => ({ kind: 'bad-signature' as const, message });
  const spki = Buffer.from(e.signer.spki, 'base64');
  if (sha256Hex(spki) !== e.signer.spkiSha256) return bad('signer.spkiSha256 is not the SHA-256 of signer.spki');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    return bad('signer.spki is not a readable public key');
  }
  const keyType = keyTypeOf(key);
  if (!keyType) return bad('signer.spki is not a key type Strongroom signs with');
  const alg = e.signer.algorithm;
  if (!algorithmFits(keyType, alg)) return bad(`a ${keyType} key cannot make ${alg} signatures`);
  const sig = Buffer.from(e.signature, 'base64');
  if (e.signature.length === 0 || sig.toString('base64') !== e.signature) return bad('the signature is not canonical base64');
  if (keyType === 'ec-p256' || keyType === 'ec-p384') {
    try {
      ecdsaDerToRaw(sig, keyType === 'ec-p256' ? 'P-256' : 'P-384');
    } catch {
      return bad('the signature is not a DER ECDSA signature for the key');
    }
  } else if (keyType === 'ed25519') {
    if (sig.length !== 64) return bad('the signature is not a 64-byte Ed25519 signature');
  } else if (sig.length !== (key.asymmetricKeyDetails?.modulusLength ?? 0) / 8) {
    return bad('the signature length does not match the RSA modulus');
  }
  let data: Buffer;
  try {
    data = signedBytes(e);
  } catch (err) {
    return bad(`the entry cannot be canonicalised: ${(err as Error).message}`);
  }
  const hash = HASH[alg];
  const ok = alg.startsWith('rsa-pss-')
    ? nodeVerify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[hash!]! }, sig)
    : nodeVerify(hash, data, key, sig);
  return ok ? true : { kind: 'edited', message: 'the signature does not match the content: the entry was changed after it was signed' };
}

/** The DER SPKI to pin, from a PEM certificate, a PEM public key, or DER of either. */
export function trustedSpkiFrom(pemOrDer: string | Uint8Array): Uint8Array {
  const text = typeof pemOrDer === 'string' ? pemOrDer : undefined;
  if (text?.includes('-----BEGIN CERTIFICATE-----') || (text === undefined && isCertificate(pemOrDer as Uint8Array))) {
    return new X509Certificate(typeof pemOrDer === 'string' ? pemOrDer : Buffer.from(pemOrDer)).publicKey.export({ type: 'spki', format: 'der' });
  }
  const key = typeof pemOrDer === 'string' ? createPublicKey(pemOrDer) : createPublicKey({ key: Buffer.from(pemOrDer), format: 'der', type: 'spki' });
  return key.export({ type: 'spki', format: 'der' });
}

function isCertificate(der: Uint8Array): boolean {
  try {
    new X509Certificate(Buffer.from(der));
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Appending

export interface AppendResult {
  entry: TranscriptEntry;
  /** 1-based line number of the new entry. */
  line: number;
  /** SHA-256 of the new line: the head to record on paper, and the next entry's prevHash. */
  hash: string;
}

/**
 * Appends one entry signed by `signer` (the ceremony's HSM key). Refuses when the transcript as it stands does not
 * verify, when the new entry would not verify (a signer not pinned or not introduced, an HSM signature that does
 * not check out), or when another append holds the lock. The line is written with O_APPEND in one write and
 * fsynced before this resolves.
 */
export async function appendEntry(path: string, input: EntryInput, signer: Signer, options: VerifyOptions = {}): Promise<AppendResult> {
  const parsed = inputSchema.safeParse(input);
  if (!parsed.success) throw new TranscriptError(`transcript entry refused: ${describeIssue(parsed.error)}`);

  const lock = `${path}.lock`;
  let lockHandle;
  try {
    lockHandle = await open(lock, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new TranscriptError(`${lock} exists: another append is in progress, or one was interrupted (remove the lock file once no ceremony is running)`);
    }
    throw new TranscriptError(`cannot lock ${path}: ${(e as Error).message}`);
  }
  try {
    await lockHandle.close();
    let existing: Buffer;
    try {
      existing = await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new TranscriptError(`cannot read transcript ${path}: ${(e as Error).message}`);
      existing = Buffer.alloc(0);
    }
    const before = verifyTranscriptBytes(existing, options);
    if (!before.ok) throw new TranscriptError(`refusing to append to a transcript that does not verify:\n${before.problems.map((p) => `  line ${p.line}: ${p.message}`).join('\n')}`);

    const { time, details, ...rest } = input;
    const unsigned: Omit<TranscriptEntry, 'signature'> = {
      seq: before.head ? before.head.seq + 1 : 1,
      time: time ?? new Date().toISOString(),
      type: rest.type,
      configSha256: rest.configSha256,
      operators: rest.operators,
      custodians: rest.custodians,
      token: rest.token,
      keys: rest.keys,
      outputs: rest.outputs,
      ...(details !== undefined ? { details } : {}),
      prevHash: before.head ? before.head.hash : GENESIS_PREV_HASH,
      signer: { spki: Buffer.from(signer.spki).toString('base64'), spkiSha256: sha256Hex(signer.spki), algorithm: signer.algorithm },
    };
    let tbs: Buffer;
    try {
      tbs = signedBytes(unsigned);
    } catch (e) {
      if (e instanceof CanonicalJsonError) throw new TranscriptError(`transcript entry refused: ${e.message}`);
      throw e;
    }
    const signature = await signer.sign(tbs, { algorithm: signer.algorithm });
    const entry: TranscriptEntry = { ...unsigned, signature: Buffer.from(signature).toString('base64') };
    const line = Buffer.from(`${canonicalJson(entry)}\n`, 'utf8');

    const after = verifyTranscriptBytes(Buffer.concat([existing, line]), options);
    if (!after.ok) throw new TranscriptError(`the new entry would not verify, nothing written:\n${after.problems.map((p) => `  line ${p.line}: ${p.message}`).join('\n')}`);

    const fh = await open(path, 'a', 0o644);
    try {
      const { size } = await fh.stat();
      if (size !== existing.length) throw new TranscriptError(`${path} changed while the entry was being signed; nothing written`);
      for (let off = 0; off < line.length; ) off += (await fh.write(line, off, line.length - off)).bytesWritten;
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (existing.length === 0) await syncDirectory(dirname(path));
    return { entry, line: after.head!.line, hash: after.head!.hash };
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

/** A newly created file is durable only once its directory entry is. */
async function syncDirectory(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the file itself is synced.
  } finally {
    await d.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Facts ceremonies read back

/**
 * The highest CRL number recorded for an issuer by root-crl entries (details.crlNumber, a decimal string), or
 * undefined when none is recorded. The issuer is `details.issuerSpkiSha256` when the entry names one, else the
 * entry's signer. Pass verified entries only (VerifyResult.entries).
 */
export function lastCrlNumber(entries: readonly TranscriptEntry[], issuerSpkiSha256: string): bigint | undefined {
  let max: bigint | undefined;
  for (const e of entries) {
    if (e.type !== 'root-crl') continue;
    const issuer = typeof e.details?.issuerSpkiSha256 === 'string' ? e.details.issuerSpkiSha256 : e.signer.spkiSha256;
    if (issuer !== issuerSpkiSha256) continue;
    const n = e.details?.crlNumber;
    if (typeof n !== 'string' || !DECIMAL.test(n)) throw new TranscriptError(`entry seq ${e.seq} has no valid details.crlNumber`);
    const value = BigInt(n);
    if (max === undefined || value > max) max = value;
  }
  return max;
}
