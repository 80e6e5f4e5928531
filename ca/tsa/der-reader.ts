/**
 * Strict DER reading for the request hot path: one-byte tags, definite minimal lengths, nothing past the end.
 * Views into the input, no closures (under tsx every closure made per call costs a name wrapper), `undefined`
 * for anything malformed — the caller decides what that means on the wire.
 */
export interface Tlv {
  tag: number;
  /** The whole TLV. */
  bytes: Uint8Array;
  /** The contents octets. */
  content: Uint8Array;
}

export function readTlvAt(input: Uint8Array, offset: number): Tlv | undefined {
  if (offset + 2 > input.length) return undefined;
  const tag = input[offset]!;
  if ((tag & 0x1f) === 0x1f) return undefined;
  let length = input[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 3 || offset + 2 + n > input.length || input[offset + 2] === 0) return undefined;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + input[offset + 2 + i]!;
    if (length < 0x80) return undefined;
    header += n;
  }
  const end = offset + header + length;
  if (end > input.length) return undefined;
  return { tag, bytes: input.subarray(offset, end), content: input.subarray(offset + header, end) };
}

/** The children of a constructed TLV, or undefined when they do not fill it exactly. */
export function childrenOf(tlv: Tlv): Tlv[] | undefined {
  if (!(tlv.tag & 0x20)) return undefined;
  const out: Tlv[] = [];
  for (let at = 0; at < tlv.content.length; ) {
    const child = readTlvAt(tlv.content, at);
    if (!child) return undefined;
    out.push(child);
    at += child.bytes.length;
  }
  return out;
}

/** DER forbids a leading 0x00 before a clear top bit and a leading 0xff before a set one. */
export function isMinimalInteger(content: Uint8Array): boolean {
  if (content.length === 0) return false;
  if (content.length === 1) return true;
  const a = content[0]!;
  const b = content[1]!;
  return !((a === 0x00 && !(b & 0x80)) || (a === 0xff && b & 0x80));
}
