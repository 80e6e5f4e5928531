/**
 * Whether bytes are strict DER, judged in one linear pass without decoding them into objects — the CSR intake's
 * pre-walk and the certificate lint's DER check (where re-encoding through the schema library cost a millisecond).
 * Refused: indefinite or non-minimal lengths, lengths past the enclosing value (a header claiming gigabytes is
 * refused by arithmetic, never by allocating), trailing bytes, high tag numbers and end-of-contents octets,
 * universal types in the wrong form (constructed strings, primitive SEQUENCE/SET), and non-canonical primitives
 * (BOOLEAN other than 00/ff, non-minimal or empty INTEGER/ENUMERATED, NULL with contents, BIT STRING with bad
 * unused bits, padded OBJECT IDENTIFIER arcs; optionally UTF8String that is not UTF-8 and odd-length BMPString).
 * Iterative, with a depth limit and an element budget, so hostile input costs no stack and bounded time.
 *
 * What a pass over bytes cannot see — DEFAULT values written out, SET OF order, the schema itself — the caller
 * checks where it reads the structure.
 */

/** A count of TLVs still allowed; one budget can be shared by several walks (all extension values of a CSR). */
export interface ElementBudget {
  remaining: number;
  readonly limit: number;
}

export interface DerProblem {
  why: string;
  at: number;
  /** The TLV framing itself is broken (truncated, overlong, trailing bytes): the bytes are not one value at all. */
  framing: boolean;
}

export interface StrictDerOptions {
  maxDepth?: number;
  budget?: ElementBudget;
  /** Judge string contents too (UTF8String is UTF-8, BMPString has whole characters). Default true. */
  strings?: boolean;
  /** Offset of one primitive TLV whose contents the caller judges itself (a certificate's serial, say). */
  exemptAt?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function strictDerProblem(input: Uint8Array, { maxDepth = 32, budget, strings = true, exemptAt = -1 }: StrictDerOptions = {}): DerProblem | undefined {
  const framing = (why: string, at: number): DerProblem => ({ why, at, framing: true });
  const encoding = (why: string, at: number): DerProblem => ({ why, at, framing: false });
  if (input.length === 0) return framing('empty', 0);
  const ends: number[] = []; // end offsets of the open constructed values
  let pos = 0;
  let first = true;
  // Each iteration reads one header and either skips a primitive value or enters a constructed one: O(input).
  for (;;) {
    while (ends.length > 0 && pos === ends[ends.length - 1]) ends.pop();
    if (!first && ends.length === 0) return pos === input.length ? undefined : framing(`${input.length - pos} trailing byte(s) after the value`, pos);
    const limit = ends.length > 0 ? ends[ends.length - 1]! : input.length;
    if (pos + 2 > limit) return framing('truncated header', pos);
    if (budget && --budget.remaining < 0) return encoding(`more than ${budget.limit} DER elements`, pos);
    const tag = input[pos]!;
    if (tag === 0x00) return framing('end-of-contents octets (BER indefinite length)', pos);
    if ((tag & 0x1f) === 0x1f) return framing('high tag number form', pos);
    const l0 = input[pos + 1]!;
    let length = l0;
    let header = 2;
    if (l0 === 0x80) return encoding('indefinite length (BER)', pos);
    if (l0 & 0x80) {
      const n = l0 & 0x7f;
      if (n > 4) return framing('length field too long', pos);
      if (pos + 2 + n > limit) return framing('truncated length', pos);
      if (input[pos + 2] === 0) return encoding('length not minimally encoded', pos);
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + input[pos + 2 + i]!;
      if (length < 0x80) return encoding('length not minimally encoded', pos);
      header += n;
    }
    if (length > limit - pos - header) return framing('length exceeds the enclosing value', pos);
    if (first && pos + header + length !== input.length) return framing(`${input.length - pos - header - length} trailing byte(s) after the value`, pos);
    first = false;
    const constructed = (tag & 0x20) !== 0;
    if ((tag & 0xc0) === 0) {
      const number = tag & 0x1f;
      if ((number === 0x10 || number === 0x11) !== constructed) return encoding(constructed ? 'constructed string or primitive type (not DER)' : 'primitive SEQUENCE or SET', pos);
      if (!constructed && pos !== exemptAt) {
        const why = primitiveProblem(number, input.subarray(pos + header, pos + header + length), strings);
        if (why) return encoding(why, pos);
      }
    }
    if (constructed) {
      if (ends.length >= maxDepth) return encoding(`nested deeper than ${maxDepth}`, pos);
      ends.push(pos + header + length);
      pos += header;
    } else pos += header + length;
  }
}

/** Contents rules for a universal primitive: the shared OID check is exported for implicitly tagged OIDs. */
export function primitiveProblem(number: number, c: Uint8Array, strings = true): string | undefined {
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
    case 0x0c: // UTF8String
      if (!strings) return undefined;
      try {
        utf8.decode(c);
        return undefined;
      } catch {
        return 'UTF8String is not UTF-8';
      }
    case 0x1e: // BMPString
      return !strings || c.length % 2 === 0 ? undefined : 'BMPString of odd length';
    default:
      return undefined;
  }
}
