/**
 * The object identifiers the TSA reads and writes, as DER (an OID compares by its bytes, so nothing is decoded on
 * the hot path), and the message-imprint hash algorithms it accepts.
 */
import { encodeTlv } from '../x509/der.ts';
import { oidDer } from '../x509/oid.ts';
import type { HashName } from '../x509/algorithms.ts';

export { oidDer, oidString, TAG_OID } from '../x509/oid.ts';

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
