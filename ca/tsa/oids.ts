/**
 * The object identifiers the TSA reads and writes, as DER (an OID compares by its bytes, so nothing is decoded on
 * the hot path), and the message-imprint hash algorithms it accepts.
 */
import { encodeTlv } from '../x509/der.ts';
import type { HashName } from '../x509/algorithms.ts';

export const TAG_OID = 0x06;

/** DER of a dotted OID. Throws on anything that is not one (first arc 0–2, second < 40 under 0 and 1). */
export function oidDer(oid: string): Uint8Array {
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
  return encodeTlv(TAG_OID, Uint8Array.from(bytes));
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

export const OID = {
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
} as const;

export interface ImprintAlgorithm {
  hash: HashName;
  length: number;
  /** DER of the OID alone. */
  oid: Uint8Array;
}

/** SHA-256/384/512 only: SHA-1 and MD5 (and anything else) are refused with badAlg. */
export const IMPRINT_ALGORITHMS: readonly ImprintAlgorithm[] = [
  { hash: 'sha256', length: 32, oid: oidDer('2.16.840.1.101.3.4.2.1') },
  { hash: 'sha384', length: 48, oid: oidDer('2.16.840.1.101.3.4.2.2') },
  { hash: 'sha512', length: 64, oid: oidDer('2.16.840.1.101.3.4.2.3') },
];

export function imprintAlgorithm(hash: HashName): ImprintAlgorithm {
  return IMPRINT_ALGORITHMS.find((a) => a.hash === hash)!;
}

/** AlgorithmIdentifier of a SHA-2 digest, parameters absent (RFC 5754 §2). */
export function digestAlgorithmDer(hash: HashName): Uint8Array {
  return encodeTlv(0x30, imprintAlgorithm(hash).oid);
}
