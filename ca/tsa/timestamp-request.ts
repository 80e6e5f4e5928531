/**
 * TimeStampReq (RFC 3161 §2.4.1) read straight from its DER, strictly, without an object model: the fields a
 * token echoes (messageImprint, nonce) are kept as the request's own bytes, so what is returned is exactly what
 * was asked, and parsing costs microseconds on the hot path. Refusals name the PKIFailureInfo openssl's TSA uses
 * for the same fault: undecodable → badDataFormat, version ≠ 1 → badRequest, a hash other than SHA-256/384/512 or
 * with parameters other than NULL → badAlg, an imprint of the wrong length → badDataFormat, a policy not offered →
 * unacceptedPolicy, any extension (we support none) → unacceptedExtension.
 *
 *   TimeStampReq ::= SEQUENCE { version INTEGER { v1(1) }, messageImprint MessageImprint,
 *     reqPolicy TSAPolicyId OPTIONAL, nonce INTEGER OPTIONAL, certReq BOOLEAN DEFAULT FALSE,
 *     extensions [0] IMPLICIT Extensions OPTIONAL }
 *   MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
 */
import { childrenOf, isMinimalInteger, readTlvAt, type Tlv } from './der-reader.ts';
import { IMPRINT_ALGORITHMS, TAG_OID, type ImprintAlgorithm } from './oids.ts';
import { TsaFailure } from './tsa-failure.ts';

export interface TimestampRequest {
  algorithm: ImprintAlgorithm;
  /** The hashed message (hashedMessage contents). */
  imprint: Uint8Array;
  /** DER of the whole MessageImprint, copied into TSTInfo as is. */
  messageImprintDer: Uint8Array;
  /** DER of the reqPolicy OID when one was asked for. */
  policyDer: Uint8Array | undefined;
  /** DER of the nonce INTEGER when present (echoed byte for byte); its contents are what is recorded. */
  nonceDer: Uint8Array | undefined;
  nonce: Uint8Array | undefined;
  certReq: boolean;
}

/** Nonces are 64-bit in practice; 160 bits like serials is generous, and bounds what we store per token. */
export const MAX_NONCE_BYTES = 32;

const badFormat = (why: string) => new TsaFailure('badDataFormat', why);

const malformed = () => badFormat('Bad request format or system error.');

export function parseTimestampRequest(der: Uint8Array): TimestampRequest {
  const outer = readTlvAt(der, 0);
  if (!outer || outer.bytes.length !== der.length || outer.tag !== 0x30) throw malformed();
  const fields = childrenOf(outer);
  if (!fields || fields.length < 2) throw malformed();
  const imprintTlv = fields[1]!;
  const imprintParts = imprintTlv.tag === 0x30 ? childrenOf(imprintTlv) : undefined;
  if (!imprintParts || imprintParts.length !== 2 || imprintParts[0]!.tag !== 0x30 || imprintParts[1]!.tag !== 0x04) throw malformed();
  const algParts = childrenOf(imprintParts[0]!);
  if (!algParts) throw malformed();
  const version = fields[0]!;
  if (version.tag !== 0x02 || !isMinimalInteger(version.content)) throw malformed();
  if (version.content.length !== 1 || version.content[0] !== 1) throw new TsaFailure('badRequest', 'Bad request version.');

  const [algOid, algParams, ...algRest] = algParts;
  if (!algOid || algOid.tag !== TAG_OID || algRest.length) throw malformed();
  const algorithm = findAlgorithm(algOid.bytes);
  if (!algorithm) throw new TsaFailure('badAlg', 'Message digest algorithm is not supported.');
  if (algParams && !(algParams.tag === 0x05 && algParams.content.length === 0)) throw new TsaFailure('badAlg', 'Superfluous message digest parameter.');
  const imprint = imprintParts[1]!.content;
  if (imprint.length !== algorithm.length) throw badFormat('Bad message digest.');

  // The optional fields in their order, each at most once; anything else is not a TimeStampReq.
  let policyDer: Uint8Array | undefined;
  let nonceTlv: Tlv | undefined;
  let certReq = false;
  let extensions = false;
  let stage = 0;
  for (const f of fields.slice(2)) {
    const at = [TAG_OID, 0x02, 0x01, 0xa0].indexOf(f.tag);
    if (at < stage) throw malformed();
    stage = at + 1;
    if (f.tag === TAG_OID) {
      if (f.content.length === 0 || f.content[f.content.length - 1]! & 0x80) throw malformed();
      policyDer = f.bytes;
    } else if (f.tag === 0x02) {
      if (!isMinimalInteger(f.content)) throw malformed();
      if (f.content.length > MAX_NONCE_BYTES) throw badFormat('Nonce is too long.');
      nonceTlv = f;
    } else if (f.tag === 0x01) {
      // DER says TRUE is 0xff and FALSE is left out; an explicit FALSE (0x00) from a lax encoder is still clear.
      if (f.content.length !== 1 || (f.content[0] !== 0xff && f.content[0] !== 0x00)) throw malformed();
      certReq = f.content[0] === 0xff;
    } else {
      extensions = true;
    }
  }
  if (extensions) throw new TsaFailure('unacceptedExtension', 'Unsupported extension.');
  return {
    algorithm,
    imprint,
    messageImprintDer: imprintTlv.bytes,
    policyDer,
    nonceDer: nonceTlv?.bytes,
    nonce: nonceTlv?.content,
    certReq,
  };
}

function findAlgorithm(oid: Uint8Array): ImprintAlgorithm | undefined {
  for (const a of IMPRINT_ALGORITHMS) if (Buffer.compare(a.oid, oid) === 0) return a;
  return undefined;
}
