/**
 * A strict DER pre-parser, run over every byte before any ASN.1 library sees them (and over every extension value
 * before it is decoded). It walks the TLV tree iteratively — no recursion, so no stack to exhaust — with a depth
 * limit and an element budget, and refuses in one linear pass everything that makes generic decoders slow,
 * recursive or ambiguous:
 *
 * - indefinite lengths (BER), lengths longer than 4 octets or not minimally encoded, lengths running past the
 *   enclosing value (a header claiming gigabytes is refused by arithmetic, never by allocating), trailing bytes;
 * - nesting deeper than `maxDepth`; more TLVs than the budget allows; high-tag-number forms and the
 *   end-of-contents tag;
 * - universal types in the wrong form: constructed strings (DER forbids them), primitive SEQUENCE / SET;
 * - non-canonical primitives: BOOLEAN other than 00/ff, non-minimal or empty INTEGER / ENUMERATED, NULL with
 *   contents, BIT STRING with more than 7 or non-zero unused bits, OBJECT IDENTIFIER with padded or unterminated
 *   sub-identifiers.
 *
 * What it cannot see (DEFAULT values written out, SET OF order, the schema itself) is left to parse-and-re-encode.
 */
import { children, integerToBigint, readTlv, type Tlv } from '../x509/der.ts';
import { badCsr } from './errors.ts';

export type { Tlv };

export const DEFAULT_MAX_DEPTH = 32;
/**
 * ASN.1 libraries are not linear-time friends: @peculiar/asn1-schema spends ~50 µs per CHOICE element (names,
 * GeneralNames), so 64 KiB of tiny elements would cost hundreds of milliseconds. Element budgets bound that work.
 */
export const DEFAULT_MAX_ELEMENTS = 1024;

/** A count of TLVs still allowed; one budget can be shared by several walks (all extension values of a CSR). */
export interface ElementBudget {
  remaining: number;
  readonly limit: number;
}

export const elementBudget = (limit = DEFAULT_MAX_ELEMENTS): ElementBudget => ({ remaining: limit, limit });

export interface CheckDerOptions {
  maxDepth?: number;
  /** Shared across calls when given; a fresh DEFAULT_MAX_ELEMENTS budget otherwise. */
  budget?: ElementBudget;
  /** What the bytes are, for the message. */
  what?: string;
}

/**
 * Throws CsrError('bad_csr') unless `input` is exactly one strict-DER value no deeper than `maxDepth` and with no
 * more TLVs than the budget has left.
 */
export function checkDer(input: Uint8Array, { maxDepth = DEFAULT_MAX_DEPTH, budget = elementBudget(), what = 'DER' }: CheckDerOptions = {}): void {
  const fail = (why: string, at: number) => badCsr(`${what}: ${why} at offset ${at}`);
  if (input.length === 0) throw badCsr(`${what}: empty`);
  const ends: number[] = []; // end offsets of the open constructed values
  let pos = 0;
  let first = true;
  // Each iteration reads one header and either skips a primitive value or enters a constructed one: O(input).
  for (;;) {
    while (ends.length > 0 && pos === ends[ends.length - 1]) ends.pop();
    if (!first && ends.length === 0) {
      if (pos !== input.length) throw fail(`${input.length - pos} trailing byte(s) after the value`, pos);
      return;
    }
    const limit = ends.length > 0 ? ends[ends.length - 1]! : input.length;
    if (pos + 2 > limit) throw fail('truncated header', pos);
    if (--budget.remaining < 0) throw fail(`more than ${budget.limit} DER elements`, pos);
    const tag = input[pos]!;
    if (tag === 0x00) throw fail('end-of-contents octets (BER indefinite length)', pos);
    if ((tag & 0x1f) === 0x1f) throw fail('high tag number form', pos);
    const first0 = input[pos + 1]!;
    let length: number;
    let header = 2;
    if (first0 === 0x80) throw fail('indefinite length (BER)', pos);
    if (first0 & 0x80) {
      const n = first0 & 0x7f;
      if (n > 4) throw fail('length field too long', pos);
      if (pos + 2 + n > limit) throw fail('truncated length', pos);
      if (input[pos + 2] === 0) throw fail('length not minimally encoded', pos);
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + input[pos + 2 + i]!;
      if (length < 0x80) throw fail('length not minimally encoded', pos);
      header += n;
    } else length = first0;
    if (length > limit - pos - header) throw fail('length exceeds the enclosing value', pos);
    if (first && pos + header + length !== input.length) {
      throw fail(`${input.length - pos - header - length} trailing byte(s) after the value`, pos);
    }
    first = false;
    const constructed = (tag & 0x20) !== 0;
    if ((tag & 0xc0) === 0) {
      const number = tag & 0x1f;
      const structured = number === 0x10 || number === 0x11;
      if (structured !== constructed) throw fail(constructed ? 'constructed string or primitive type (not DER)' : 'primitive SEQUENCE or SET', pos);
      if (!constructed) {
        const why = primitiveProblem(number, input.subarray(pos + header, pos + header + length));
        if (why) throw fail(why, pos);
      }
    }
    if (constructed) {
      if (ends.length >= maxDepth) throw fail(`nested deeper than ${maxDepth}`, pos);
      ends.push(pos + header + length);
      pos += header;
    } else pos += header + length;
  }
}

function primitiveProblem(number: number, c: Uint8Array): string | undefined {
  switch (number) {
    case 0x01: // BOOLEAN
      return c.length === 1 && (c[0] === 0x00 || c[0] === 0xff) ? undefined : 'BOOLEAN not 00 or ff';
    case 0x02: // INTEGER
    case 0x0a: // ENUMERATED
      if (c.length === 0) return 'empty INTEGER';
      if (c.length > 1 && ((c[0] === 0x00 && !(c[1]! & 0x80)) || (c[0] === 0xff && c[1]! & 0x80))) return 'INTEGER not minimally encoded';
      return undefined;
    case 0x03: // BIT STRING
      if (c.length === 0 || c[0]! > 7) return 'malformed BIT STRING';
      if (c.length === 1 && c[0] !== 0) return 'malformed BIT STRING';
      if (c.length > 1 && c[c.length - 1]! & ((1 << c[0]!) - 1)) return 'BIT STRING unused bits not zero';
      return undefined;
    case 0x05: // NULL
      return c.length === 0 ? undefined : 'NULL with contents';
    case 0x06: // OBJECT IDENTIFIER
      if (c.length === 0 || c[c.length - 1]! & 0x80) return 'malformed OBJECT IDENTIFIER';
      for (let i = 0; i < c.length; i++) if (c[i] === 0x80 && (i === 0 || !(c[i - 1]! & 0x80))) return 'OBJECT IDENTIFIER not minimally encoded';
      return undefined;
    default:
      return undefined;
  }
}

// Readers for bytes that already passed checkDer: failures here are schema mismatches, reported as bad_csr.

export function tlvOf(bytes: Uint8Array, what: string): Tlv {
  try {
    return readTlv(bytes);
  } catch {
    throw badCsr(`${what}: malformed`);
  }
}

export function childrenOf(tlv: Tlv, what: string): Tlv[] {
  try {
    return children(tlv);
  } catch {
    throw badCsr(`${what}: malformed`);
  }
}

/** Children of a constructed TLV that must carry `tag`, with a count between min and max. */
export function expectChildren(tlv: Tlv, tag: number, what: string, min: number, max = min): Tlv[] {
  if (tlv.tag !== tag) throw badCsr(`${what}: unexpected type`);
  const kids = childrenOf(tlv, what);
  if (kids.length < min || kids.length > max) throw badCsr(`${what}: unexpected number of fields`);
  return kids;
}

/** Dotted text of OBJECT IDENTIFIER contents (already checked minimal by checkDer). */
export function oidText(content: Uint8Array): string {
  const arcs: bigint[] = [];
  let v = 0n;
  for (const b of content) {
    v = (v << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(v);
      v = 0n;
    }
  }
  const head = arcs.shift() ?? 0n;
  const [a, b] = head < 40n ? [0n, head] : head < 80n ? [1n, head - 40n] : [2n, head - 80n];
  return [a, b, ...arcs].join('.');
}

export function oidOf(tlv: Tlv, what: string): string {
  if (tlv.tag !== 0x06) throw badCsr(`${what}: expected an OBJECT IDENTIFIER`);
  return oidText(tlv.content);
}

/** An [n] IMPLICIT OBJECT IDENTIFIER (registeredID): the checks checkDer applies to universal OIDs, by hand. */
export function implicitOidOf(tlv: Tlv, what: string): string {
  if (tlv.tag & 0x20 || primitiveProblem(0x06, tlv.content)) throw badCsr(`${what}: malformed OBJECT IDENTIFIER`);
  return oidText(tlv.content);
}

export function integerOf(tlv: Tlv, what: string): bigint {
  if (tlv.tag !== 0x02) throw badCsr(`${what}: expected an INTEGER`);
  return integerToBigint(tlv.content);
}
