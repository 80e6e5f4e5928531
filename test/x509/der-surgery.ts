// Rewrites one TLV somewhere inside a DER structure and fixes every enclosing length: how tests produce encodings
// our builders refuse to (non-DER booleans, odd algorithm fields) without hand-assembling whole structures.
import { children, encodeTlv, readSingleTlv, type Tlv } from '../../ca/x509/der.ts';

function rebuild(tlv: Tlv, match: (t: Tlv) => boolean, replace: (t: Tlv) => Uint8Array): Uint8Array {
  if (match(tlv)) return replace(tlv);
  if (!(tlv.tag & 0x20)) return tlv.bytes;
  return encodeTlv(tlv.tag, Buffer.concat(children(tlv).map((c) => rebuild(c, match, replace))));
}

/** Replaces every TLV for which `match` holds (outermost first; no recursion into replaced ones). */
export function rewriteDer(der: Uint8Array, match: (t: Tlv) => boolean, replace: (t: Tlv) => Uint8Array): Uint8Array {
  return Uint8Array.from(rebuild(readSingleTlv(der), match, replace));
}

export const hex = (b: Uint8Array | ArrayBuffer) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString('hex');
export const fromHex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
