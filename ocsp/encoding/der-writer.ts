/**
 * The TLV writer behind the hot path: sizes first, then one allocation, then forward writes. Everything the
 * encoder writes has a one-byte tag and a definite length below 2^32.
 */
import { OcspEncodingError } from './errors.ts';

const MAX_LENGTH = 0xffffffff;

/** Octets of the identifier and length of a TLV whose contents are `length` octets long. */
export function headerLength(length: number): number {
  if (length < 0x80) return 2;
  if (length < 0x100) return 3;
  if (length < 0x10000) return 4;
  if (length < 0x1000000) return 5;
  if (length <= MAX_LENGTH) return 6;
  throw new OcspEncodingError(`a DER length of ${length} does not fit in four octets`);
}

/** Octets of a whole TLV with `length` octets of contents. */
export function tlvLength(length: number): number {
  return headerLength(length) + length;
}

/** Writes tag and length at `offset`; returns the offset of the contents. */
export function writeHeader(out: Uint8Array, offset: number, tag: number, length: number): number {
  out[offset++] = tag;
  if (length < 0x80) {
    out[offset++] = length;
    return offset;
  }
  const octets = headerLength(length) - 2;
  out[offset++] = 0x80 | octets;
  for (let shift = (octets - 1) * 8; shift >= 0; shift -= 8) out[offset++] = Math.floor(length / 2 ** shift) & 0xff;
  return offset;
}

/** Writes `bytes` at `offset`; returns the offset after them. */
export function writeBytes(out: Uint8Array, offset: number, bytes: Uint8Array): number {
  out.set(bytes, offset);
  return offset + bytes.length;
}

/** A whole TLV in a fresh array: for the parts encoded once, off the hot path. */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const c of contents) length += c.length;
  const out = new Uint8Array(tlvLength(length));
  let at = writeHeader(out, 0, tag, length);
  for (const c of contents) at = writeBytes(out, at, c);
  return out;
}

export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
} as const;

/** [n] IMPLICIT primitive, [n] constructed (EXPLICIT or IMPLICIT over a constructed type). */
export const contextPrimitive = (n: number): number => 0x80 | n;
export const contextConstructed = (n: number): number => 0xa0 | n;
