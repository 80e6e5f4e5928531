/**
 * OBJECT IDENTIFIERs as DER and back. Hot paths compare OIDs by their bytes, so the dotted form is for records,
 * messages and lookups, and encodings of the OIDs we write are kept once made.
 */
import { encodeTlv } from './der.ts';

export const TAG_OID = 0x06;

const encoded = new Map<string, Uint8Array>();

/**
 * DER of a dotted OID, shared (callers must not modify it). Throws on anything that is not one (first arc 0–2,
 * second < 40 under 0 and 1).
 */
export function oidDer(oid: string): Uint8Array {
  const hit = encoded.get(oid);
  if (hit) return hit;
  if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(oid)) throw new Error(`not an object identifier: "${oid}"`);
  const arcs = oid.split('.').map((a) => BigInt(a));
  if (arcs[0]! < 2n && arcs[1]! >= 40n) throw new Error(`not an object identifier: "${oid}"`);
  const values = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)];
  const bytes: number[] = [];
  for (const v of values) {
    const group = [Number(v & 0x7fn)];
    for (let rest = v >> 7n; rest > 0n; rest >>= 7n) group.unshift(Number(rest & 0x7fn) | 0x80);
    bytes.push(...group);
  }
  const der = encodeTlv(TAG_OID, Uint8Array.from(bytes));
  // Bounded by the OIDs a process writes, which come from code and profiles, not from requests.
  if (encoded.size < 1024) encoded.set(oid, der);
  return der;
}

/** The dotted form of OID contents octets (for records and messages, never for comparisons). */
export function oidString(content: Uint8Array): string {
  const values: bigint[] = [];
  let v = 0n;
  for (const b of content) {
    v = (v << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      values.push(v);
      v = 0n;
    }
  }
  const first = values.shift() ?? 0n;
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...values].join('.');
}
