/**
 * M-of-N secret shares (Shamir over GF(2^8), the shamir-secret-sharing library) in a text format a custodian can
 * keep on paper and type back in.
 *
 *   strongroom-share:v1:<label>:<split id>:<index>/<N>:<M>:<data>:<check>
 *
 * - label: what the secret is for (e.g. the token label), [A-Za-z0-9._-]{1,64}, for humans holding several shares;
 * - split id: 16 hex digits, random per split, so shares of two splits (even of the same secret) are never mixed;
 * - index/N: this share's number among the N, M: the threshold. Both are also bound inside the shared payload;
 * - data: base64url (no padding) of the library's share: the shared payload followed by its x coordinate byte;
 * - check: the first 4 bytes of SHA-256 over everything before ":<check>", hex. It catches typing mistakes at entry
 *   and is no protection against a deliberate change (anyone can recompute it).
 *
 * What is split is not the bare secret but a payload: version byte, secret length (2 bytes), the secret, zero
 * padding to a multiple of 32 bytes, then a 16-byte tag = SHA-256(domain, split id, M, N, all of the above).
 * Because the tag is inside the sharing, fewer than M shares still reveal nothing about the secret or the tag, yet
 * after combining a wrong, altered or insufficient set of shares is recognised (the tag does not match) instead of
 * yielding a wrong PIN that would cost one of the token's login attempts. The padding hides the secret's length.
 * There is deliberately no hash of the secret outside the sharing: for a PIN, a salted hash prefix on every share
 * would let one custodian brute-force the PIN alone.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';

export const SHARE_PREFIX = 'strongroom-share';
const VERSION = 'v1';
const PAYLOAD_VERSION = 1;
const BLOCK = 32;
const TAG_LENGTH = 16;
const DOMAIN = Buffer.from('strongroom-share-payload-v1\0', 'utf8');
export const MAX_SECRET_BYTES = 1024;
const LABEL = /^[A-Za-z0-9._-]{1,64}$/;

export type CustodyErrorKind =
  | 'malformed' // not a share, or a field out of range
  | 'bad-checksum' // mistyped
  | 'different-splits' // shares of different splits (or disagreeing on N, M, label)
  | 'duplicate-index' // the same share twice
  | 'too-few' // fewer than M shares
  | 'threshold-mismatch' // the shares' M is not the threshold the ceremony expects
  | 'integrity' // combined, but the result is not the secret that was split
  | 'source' // where the shares come from failed (no terminal, unreadable file)
  | 'bad-request'; // the caller asked for something impossible

/** Messages name shares by position or custodian, never by content. */
export class CustodyError extends Error {
  override readonly name = 'CustodyError';
  constructor(
    readonly kind: CustodyErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface ParsedShare {
  label: string;
  splitId: string;
  index: number;
  total: number;
  threshold: number;
  /** The library's share bytes: payload shares, then the x coordinate. */
  data: Uint8Array;
}

export interface SplitOptions {
  /** What the secret is for, shown in every share. Default "strongroom". */
  label?: string;
}

/**
 * Splits `secret` so that any `threshold` of `shares` custodians can restore it. Returns the share texts in the
 * order of `custodians`: element i (index i + 1) is custodians[i]'s.
 */
export async function splitSecret(secret: Uint8Array, threshold: number, shares: number, custodians: string[], options: SplitOptions = {}): Promise<string[]> {
  const label = options.label ?? 'strongroom';
  if (!LABEL.test(label)) throw new CustodyError('bad-request', 'the label must be 1 to 64 of A-Z a-z 0-9 . _ -');
  if (!Number.isInteger(threshold) || threshold < 2) throw new CustodyError('bad-request', 'the threshold must be an integer of at least 2 (dual control)');
  if (!Number.isInteger(shares) || shares < threshold || shares > 255) throw new CustodyError('bad-request', `the number of shares must be an integer from the threshold (${threshold}) to 255`);
  if (custodians.length !== shares) throw new CustodyError('bad-request', `${shares} shares need ${shares} custodians, ${custodians.length} named`);
  if (custodians.some((c) => c.trim().length === 0)) throw new CustodyError('bad-request', 'custodian names must not be empty');
  if (new Set(custodians).size !== custodians.length) throw new CustodyError('bad-request', 'custodian names must be distinct: one share per person');
  if (secret.length < 1 || secret.length > MAX_SECRET_BYTES) throw new CustodyError('bad-request', `the secret must be 1 to ${MAX_SECRET_BYTES} bytes`);

  const splitId = randomBytes(8).toString('hex');
  const payload = seal(secret, splitId, threshold, shares);
  try {
    const parts = await split(payload, shares, threshold);
    return parts.map((data, i) => formatShare({ label, splitId, index: i + 1, total: shares, threshold, data }));
  } finally {
    payload.fill(0);
  }
}

/**
 * Restores the secret from at least `expectedThreshold` shares of one split. Every share is checked (format,
 * checksum, same split, distinct) before any combining; the result is checked against the tag sealed in the
 * payload. The caller owns the returned bytes and should zero them after use.
 */
export async function combineShares(shares: string[], expectedThreshold: number): Promise<Uint8Array> {
  if (!Number.isInteger(expectedThreshold) || expectedThreshold < 2) throw new CustodyError('bad-request', 'the expected threshold must be an integer of at least 2');
  const set = new ShareSet(expectedThreshold);
  shares.forEach((text, i) => set.add(text, `share ${i + 1}`));
  return set.combine();
}

/** Shares accepted one at a time (as custodians enter them), each checked against those before it. */
export class ShareSet {
  private readonly accepted: { share: ParsedShare; name: string }[] = [];

  constructor(readonly threshold: number) {}

  get size(): number {
    return this.accepted.length;
  }

  get complete(): boolean {
    return this.accepted.length >= this.threshold;
  }

  /** Validates `text` (named `name` in errors: "share 2", "custodian alice's share") and keeps it. */
  add(text: string, name: string): void {
    const share = parseShare(text, name);
    const first = this.accepted[0];
    if (first) {
      const f = first.share;
      if (share.splitId !== f.splitId || share.label !== f.label || share.data.length !== f.data.length) {
        throw new CustodyError('different-splits', `shares from different splits: ${name} does not belong with ${first.name}`);
      }
      if (share.total !== f.total || share.threshold !== f.threshold) {
        throw new CustodyError('different-splits', `shares from different splits: ${name} says ${share.threshold} of ${share.total}, ${first.name} says ${f.threshold} of ${f.total}`);
      }
    }
    if (share.threshold !== this.threshold) {
      throw new CustodyError('threshold-mismatch', `${name} is from a ${share.threshold}-of-${share.total} split, but the ceremony expects a threshold of ${this.threshold}`);
    }
    for (const a of this.accepted) {
      if (a.share.index === share.index) throw new CustodyError('duplicate-index', `${name} repeats share number ${share.index}, already given as ${a.name}`);
      if (a.share.data[a.share.data.length - 1] === share.data[share.data.length - 1]) {
        throw new CustodyError('duplicate-index', `${name} is the same share as ${a.name} under another number`);
      }
    }
    this.accepted.push({ share, name });
  }

  async combine(): Promise<Uint8Array> {
    const first = this.accepted[0];
    if (!this.complete || !first) {
      throw new CustodyError('too-few', `fewer than ${this.threshold} shares: ${this.accepted.length} given, ${this.threshold} needed`);
    }
    let payload: Uint8Array;
    try {
      payload = await combine(this.accepted.map((a) => a.share.data));
    } catch {
      throw new CustodyError('integrity', 'the shares could not be combined');
    }
    try {
      return open(payload, first.share.splitId, first.share.threshold, first.share.total);
    } finally {
      payload.fill(0);
    }
  }
}

export function formatShare(s: ParsedShare): string {
  const body = `${SHARE_PREFIX}:${VERSION}:${s.label}:${s.splitId}:${s.index}/${s.total}:${s.threshold}:${Buffer.from(s.data).toString('base64url')}`;
  return `${body}:${checksum(body)}`;
}

/**
 * Parses and checks one share text. Whitespace anywhere is ignored (shares copied from paper in groups). Errors
 * name the share by `name` and never quote it.
 */
export function parseShare(text: string, name: string): ParsedShare {
  const compact = text.replace(/\s+/g, '');
  const parts = compact.split(':');
  if (parts.length !== 8 || parts[0] !== SHARE_PREFIX) {
    throw new CustodyError('malformed', `${name} is not a Strongroom share (${SHARE_PREFIX}:v1:… with 8 fields)`);
  }
  const [, version, label, splitId, position, threshold, data, check] = parts as [string, string, string, string, string, string, string, string];
  const body = compact.slice(0, compact.length - check.length - 1);
  const expected = Buffer.from(checksum(body), 'hex');
  const given = /^[0-9a-fA-F]{8}$/.test(check) ? Buffer.from(check, 'hex') : Buffer.alloc(4, 0xff);
  if (!/^[0-9a-fA-F]{8}$/.test(check) || !timingSafeEqual(expected, given)) throw new CustodyError('bad-checksum', `${name} has a bad checksum: it was mistyped or altered`);
  if (version !== VERSION) throw new CustodyError('malformed', `${name} is a share format this version does not read`);
  if (!LABEL.test(label) || !/^[0-9a-f]{16}$/.test(splitId)) throw new CustodyError('malformed', `${name} has a malformed label or split id`);
  const m = /^([1-9][0-9]{0,2})\/([1-9][0-9]{0,2})$/.exec(position);
  const index = Number(m?.[1]);
  const total = Number(m?.[2]);
  const t = /^[1-9][0-9]{0,2}$/.test(threshold) ? Number(threshold) : NaN;
  if (!m || total > 255 || index > total) throw new CustodyError('malformed', `${name} has a malformed share number (expected index/N with 1 ≤ index ≤ N ≤ 255)`);
  if (!(t >= 2 && t <= total)) throw new CustodyError('malformed', `${name} has a threshold outside 2..N`);
  const bytes = Buffer.from(data, 'base64url');
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(data) || bytes.toString('base64url') !== data) throw new CustodyError('malformed', `${name} has malformed share data`);
    if (bytes.length < 1 + BLOCK + TAG_LENGTH + 1 || (bytes.length - 1 - 1 - TAG_LENGTH) % BLOCK !== 0 || bytes[bytes.length - 1] === 0) {
      throw new CustodyError('malformed', `${name} has share data of an impossible length`);
    }
    // A plain Uint8Array copy: the library refuses Buffers (it checks the constructor).
    return { label, splitId, index, total, threshold: t, data: new Uint8Array(bytes) };
  } finally {
    bytes.fill(0);
  }
}

function checksum(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest().subarray(0, 4).toString('hex');
}

function tag(splitId: string, threshold: number, total: number, sealed: Uint8Array): Buffer {
  return createHash('sha256')
    .update(DOMAIN)
    .update(Buffer.from(splitId, 'hex'))
    .update(Uint8Array.of(threshold, total))
    .update(sealed)
    .digest()
    .subarray(0, TAG_LENGTH);
}

function seal(secret: Uint8Array, splitId: string, threshold: number, total: number): Uint8Array {
  const bodyLength = Math.ceil((2 + secret.length) / BLOCK) * BLOCK;
  const out = new Uint8Array(1 + bodyLength + TAG_LENGTH);
  out[0] = PAYLOAD_VERSION;
  out[1] = secret.length >> 8;
  out[2] = secret.length & 0xff;
  out.set(secret, 3);
  out.set(tag(splitId, threshold, total, out.subarray(0, 1 + bodyLength)), 1 + bodyLength);
  return out;
}

function open(payload: Uint8Array, splitId: string, threshold: number, total: number): Uint8Array {
  const wrong = () => new CustodyError('integrity', 'the combined shares do not restore the secret that was split: a share was altered, or belongs to another split');
  const bodyEnd = payload.length - TAG_LENGTH;
  if (bodyEnd < 1 + BLOCK || payload[0] !== PAYLOAD_VERSION) throw wrong();
  if (!timingSafeEqual(tag(splitId, threshold, total, payload.subarray(0, bodyEnd)), payload.subarray(bodyEnd))) throw wrong();
  const length = (payload[1]! << 8) | payload[2]!;
  if (length < 1 || 3 + length > bodyEnd || payload.subarray(3 + length, bodyEnd).some((b) => b !== 0)) throw wrong();
  return payload.slice(3, 3 + length);
}
