/**
 * An audit entry and its hash: what is hashed, exactly, and which values an entry may hold.
 *
 * hash = lowercase hex SHA-256 of the UTF-8 RFC 8785 canonical JSON (ca/encoding/canonical-json.ts) of
 *
 *   { "action", "actor", "at", "details", "prevHash", "seq", "subject" }
 *
 * (keys sorted as the canonical form requires), where `seq` is the entry's number (1, 2, …, gapless), `at` the
 * ISO 8601 UTC time with exactly three fraction digits ("2026-11-28T12:05:00.123Z"), `subject` a string or null,
 * `details` a JSON object, and `prevHash` the previous entry's `hash` (64 zeros for seq 1). An exported line is the
 * canonical JSON of the same object with `hash` added, so a SIEM re-derives the hash from the line alone: drop
 * `hash`, canonicalise, SHA-256.
 *
 * Values are limited to what survives PostgreSQL jsonb and text columns unchanged: strings without U+0000 (jsonb
 * and text refuse it) and without lone surrogates, safe integers (jsonb keeps numbers as numeric, which a float
 * or a bigint would not come back from as the same JavaScript value), booleans, null, arrays and plain objects.
 */
import { createHash } from 'node:crypto';
import { canonicalJsonBytes } from '../encoding/canonical-json.ts';

export type AuditJson = null | boolean | number | string | AuditJson[] | { [key: string]: AuditJson };
export type AuditDetails = { [key: string]: AuditJson };

/** What a caller records. */
export interface AuditEvent {
  /** Who: a client name, an operator, `system`… */
  actor: string;
  /** What, e.g. `certificate.issue`, `certificate.revoke`, `client.add`, `ca.import`, `crl.publish`. */
  action: string;
  /** On what, e.g. a serial or a client name; null or absent when there is none. */
  subject?: string | null;
  /** Anything else, as a JSON object of round-trippable values (see above). Defaults to {}. */
  details?: AuditDetails;
}

/** What is hashed. */
export interface AuditEntryContent {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string | null;
  details: AuditDetails;
  prevHash: string;
}

/** A stored entry. */
export interface AuditEntry extends AuditEntryContent {
  hash: string;
}

/** `{ seq, hash }` of the last entry: what a checkpoint records (and, later, what the TSA time-stamps). */
export interface AuditHead {
  seq: number;
  hash: string;
}

/** prevHash of the first entry, and the head hash of an empty log. */
export const GENESIS_HASH = '0'.repeat(64);

export const HASH_PATTERN = /^[0-9a-f]{64}$/;
export const AT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export class AuditEventError extends Error {
  override readonly name = 'AuditEventError';
}

export function entryHash(content: AuditEntryContent): string {
  const { seq, at, actor, action, subject, details, prevHash } = content;
  return createHash('sha256').update(canonicalJsonBytes({ seq, at, actor, action, subject, details, prevHash })).digest('hex');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function stringProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'contains U+0000, which PostgreSQL text and jsonb cannot store';
  if (LONE_SURROGATE.test(s)) return 'contains a lone UTF-16 surrogate, which is not Unicode text';
  return undefined;
}

/** Why `value` is not an AuditJson value that round-trips through jsonb exactly; undefined when it is. */
export function jsonProblem(value: unknown, path: string, stack: Set<object> = new Set()): string | undefined {
  switch (typeof value) {
    case 'string': {
      const p = stringProblem(value);
      return p && `${path} ${p}`;
    }
    case 'number':
      if (Number.isSafeInteger(value)) return undefined;
      return Number.isInteger(value)
        ? `${path} is ${value}, beyond the safe integer range (±2^53−1): record it as a string`
        : `${path} is ${value}, not an integer: floats (and NaN, Infinity) do not round-trip exactly through jsonb; record it as a string`;
    case 'boolean':
      return undefined;
    case 'undefined':
      return `${path} is undefined, which is not a JSON value: use null or leave the key out`;
    case 'bigint':
      return `${path} is a bigint (${value}n): record it as a string (or a number if within ±2^53−1)`;
    case 'function':
    case 'symbol':
      return `${path} is a ${typeof value}, which is not a JSON value`;
  }
  if (value === null) return undefined;
  const obj = value as object;
  if (stack.has(obj)) return `${path} refers back to itself`;
  stack.add(obj);
  try {
    if (Array.isArray(obj)) {
      for (let i = 0; i < obj.length; i++) {
        if (!(i in obj)) return `${path}[${i}] is a hole in a sparse array`;
        const p = jsonProblem(obj[i], `${path}[${i}]`, stack);
        if (p) return p;
      }
      return undefined;
    }
    const proto = Object.getPrototypeOf(obj) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const kind = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'non-plain object';
      return `${path} is a ${kind}, not a plain object: convert it to a string, number or plain object first`;
    }
    if (Object.getOwnPropertySymbols(obj).length > 0) return `${path} has symbol keys`;
    for (const [k, v] of Object.entries(obj)) {
      const kp = stringProblem(k);
      if (kp) return `${path} has a key that ${kp}`;
      const p = jsonProblem(v, `${path}.${k}`, stack);
      if (p) return p;
    }
    return undefined;
  } finally {
    stack.delete(obj);
  }
}

/** Checks an event before anything touches the database; returns it normalised (subject null, details {}). */
export function checkEvent(event: AuditEvent): { actor: string; action: string; subject: string | null; details: AuditDetails } {
  if (typeof event !== 'object' || event === null) throw new AuditEventError('an audit event is an object { actor, action, subject?, details? }');
  const unknownKeys = Object.keys(event).filter((k) => !['actor', 'action', 'subject', 'details'].includes(k));
  if (unknownKeys.length) throw new AuditEventError(`audit event has unknown field(s) ${unknownKeys.join(', ')}: put them in details`);
  for (const field of ['actor', 'action'] as const) {
    const v = event[field] as unknown;
    if (typeof v !== 'string' || v.length === 0) throw new AuditEventError(`audit event ${field} must be a non-empty string`);
    const p = stringProblem(v);
    if (p) throw new AuditEventError(`audit event ${field} ${p}`);
  }
  const subject = event.subject === undefined ? null : (event.subject as unknown);
  if (subject !== null) {
    if (typeof subject !== 'string') throw new AuditEventError('audit event subject must be a string or null');
    const p = stringProblem(subject);
    if (p) throw new AuditEventError(`audit event subject ${p}`);
  }
  const details = event.details === undefined ? {} : (event.details as unknown);
  if (typeof details !== 'object' || details === null || Array.isArray(details)) throw new AuditEventError('audit event details must be a JSON object');
  const p = jsonProblem(details, 'details');
  if (p) throw new AuditEventError(`audit event refused: ${p}`);
  return { actor: event.actor, action: event.action, subject, details: details as AuditDetails };
}
