/**
 * The few DER primitives the object model does not give us: reading a TLV without decoding it (so a signed TBS can
 * be compared byte for byte with the linted one, which re-encoding would hide), wrapping bytes in a TLV, and
 * INTEGER contents for serials and CRL numbers, which are bigger than a JavaScript number.
 */
import { X509Error } from './errors.ts';

export interface Tlv {
  tag: number;
  /** The whole TLV, a view into the input. */
  bytes: Uint8Array;
  /** The contents octets, a view into the input. */
  content: Uint8Array;
}

// A module-level function rather than a closure per call: readTlv runs for every TLV of every certificate, CSR
// and OCSP request, and tsx (keepNames) wraps each closure it creates in a naming call.
const fail = (why: string, offset: number) => new X509Error('der', `${why} at offset ${offset}`);

/** Reads one TLV at `offset`. Strict DER: one-byte tags, definite and minimal lengths, nothing past the input. */
export function readTlv(input: Uint8Array, offset = 0): Tlv {
  if (offset + 2 > input.length) throw fail('truncated TLV', offset);
  const tag = input[offset]!;
  if ((tag & 0x1f) === 0x1f) throw fail('multi-byte tags are not used in X.509', offset);
  let length = input[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0) throw fail('indefinite length is not DER', offset);
    if (n > 4) throw fail('length too large', offset);
    if (offset + 2 + n > input.length) throw fail('truncated length', offset);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + input[offset + 2 + i]!;
    if (input[offset + 2] === 0 || length < 0x80) throw fail('length not minimally encoded', offset);
    header += n;
  }
  const end = offset + header + length;
  if (end > input.length) throw fail('truncated contents', offset);
  return { tag, bytes: input.subarray(offset, end), content: input.subarray(offset + header, end) };
}

/** Reads a buffer that must be exactly one TLV: trailing bytes are refused. */
export function readSingleTlv(input: Uint8Array): Tlv {
  const tlv = readTlv(input);
  if (tlv.bytes.length !== input.length) throw new X509Error('der', `${input.length - tlv.bytes.length} bytes after the DER value`);
  return tlv;
}

/** The children of a constructed TLV (SEQUENCE, SET, constructed context tag). */
export function children(tlv: Tlv): Tlv[] {
  if (!(tlv.tag & 0x20)) throw new X509Error('der', `tag 0x${tlv.tag.toString(16)} is not constructed`);
  const out: Tlv[] = [];
  for (let at = 0; at < tlv.content.length; ) {
    const child = readTlv(tlv.content, at);
    out.push(child);
    at += child.bytes.length;
  }
  return out;
}

export function encodeTlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else {
    const len: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v % 256);
    header = [tag, 0x80 | len.length, ...len];
  }
  const out = new Uint8Array(header.length + n);
  out.set(header);
  out.set(content, header.length);
  return out;
}

/** One TLV around several parts, written once into one buffer (no intermediate concatenations). */
export function encodeTlvOf(tag: number, parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const lengthOctets = n < 0x80 ? 0 : n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
  const out = new Uint8Array(2 + lengthOctets + n);
  out[0] = tag;
  if (lengthOctets === 0) out[1] = n;
  else {
    out[1] = 0x80 | lengthOctets;
    for (let i = lengthOctets, v = n; i > 0; i--, v = Math.floor(v / 256)) out[1 + i] = v % 256;
  }
  let at = 2 + lengthOctets;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const TAG_BOOLEAN = 0x01;
export const TAG_INTEGER = 0x02;
export const TAG_BIT_STRING = 0x03;
export const TAG_OCTET_STRING = 0x04;
export const TAG_SEQUENCE = 0x30;
export const TAG_SET = 0x31;
export const TAG_UTC_TIME = 0x17;
export const TAG_GENERALIZED_TIME = 0x18;

/** The minimal two's-complement contents of a non-negative INTEGER. */
export function unsignedToInteger(value: bigint): Uint8Array {
  if (value < 0n) throw new X509Error('der', 'negative integers are never encoded here');
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  // A set top bit would read as negative: prefix a zero octet.
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** The value of INTEGER contents read as two's complement. */
export function integerToBigint(content: Uint8Array): bigint {
  if (content.length === 0) throw new X509Error('der', 'empty INTEGER');
  const unsigned = BigInt(`0x${Buffer.from(content).toString('hex')}`);
  return content[0]! & 0x80 ? unsigned - (1n << BigInt(content.length * 8)) : unsigned;
}

/** DER forbids a leading 0x00 before a clear top bit and a leading 0xff before a set one. */
export function isMinimalInteger(content: Uint8Array): boolean {
  if (content.length === 0) return false;
  if (content.length === 1) return true;
  const [a, b] = [content[0]!, content[1]!];
  return !((a === 0x00 && !(b & 0x80)) || (a === 0xff && b & 0x80));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** A fresh Uint8Array copy of an ArrayBuffer / view, detached from any pooled Buffer. */
export function toBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
  return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}
