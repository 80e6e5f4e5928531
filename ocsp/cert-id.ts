/**
 * The CertID the responder writes into pre-signed answers: hash AlgorithmIdentifier with NULL parameters, as
 * OpenSSL, Go and Java send it. A request whose CertID bytes differ (parameters absent, another hash) is answered
 * with its own CertID echoed, signed live: OpenSSL matches CertIDs including the algorithm's parameters.
 */
import { fromHex, tlv, TAG } from './encoding/der-writer.ts';

const ALGORITHM = {
  sha1: fromHex('300906052b0e03021a0500'),
  sha256: fromHex('300d06096086480165030402010500'),
} as const;

export function certIdDer(hashAlgorithm: 'sha1' | 'sha256', issuerNameHash: Uint8Array, issuerKeyHash: Uint8Array, serialHex: string): Uint8Array {
  const even = serialHex.length % 2 === 1 ? `0${serialHex}` : serialHex;
  // A positive INTEGER whose first octet has its high bit set needs a leading zero octet.
  const serial = fromHex(/^[89a-f]/.test(even) ? `00${even}` : even);
  return tlv(TAG.SEQUENCE, ALGORITHM[hashAlgorithm], tlv(TAG.OCTET_STRING, issuerNameHash), tlv(TAG.OCTET_STRING, issuerKeyHash), tlv(TAG.INTEGER, serial));
}
