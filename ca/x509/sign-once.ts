/**
 * The signing step shared by certificates and CRLs: one call to the Signer over the exact TBS bytes, the signed
 * structure assembled around those same bytes (never a re-encoding of them), then checked as a relying party
 * would: it parses, it carries the TBS unchanged, its two algorithm fields agree, and the signature verifies under
 * the issuer's public key in Node's crypto. HSM errors propagate untouched and nothing is retried here: a second
 * signature over the same TBS is the caller's decision, made knowing the first one may exist.
 */
import type { Priority, SignatureAlgorithm, Signer } from '../../hsm/index.ts';
import { algorithmFits } from '../../hsm/key-spec.ts';
import { algorithmIdentifierDer, findSignatureAlgorithm } from './algorithms.ts';
import { bytesEqual, children, encodeTlv, readSingleTlv, TAG_BIT_STRING, TAG_SEQUENCE, type Tlv } from './der.ts';
import { SignatureCheckError } from './errors.ts';
import { spkiInfo } from './public-key.ts';
import { verifySignature } from './verify-signature.ts';

export interface SignOnceOptions {
  priority?: Priority;
  deadlineMs?: number;
}

/** Signs `tbsDer` once with `alg` and returns SEQUENCE { tbs, algorithm, BIT STRING signature }. */
export async function signOnce(tbsDer: Uint8Array, alg: SignatureAlgorithm, signer: Signer, options: SignOnceOptions): Promise<Uint8Array> {
  if (!algorithmFits(signer.keyType, alg)) throw new SignatureCheckError('algorithm', `a ${signer.keyType} key cannot sign ${alg}`);
  const signature = await signer.sign(tbsDer, {
    algorithm: alg,
    encoding: 'der',
    ...(options.priority ? { priority: options.priority } : {}),
    ...(options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {}),
  });
  const bitString = new Uint8Array(signature.length + 1); // leading 0x00: no unused bits
  bitString.set(signature, 1);
  const body = [tbsDer, algorithmIdentifierDer(alg), encodeTlv(TAG_BIT_STRING, bitString)];
  return encodeTlv(TAG_SEQUENCE, Buffer.concat(body));
}

export interface SignedCheck {
  /** Parses the whole structure with its schema; throws if it does not. */
  parse(der: Uint8Array): void;
  /** The TBS that was linted: the signed one must be these bytes. Omit only to verify a structure from elsewhere. */
  expectedTbs?: Uint8Array;
  /** DER SubjectPublicKeyInfo of the issuer. */
  issuerSpki: Uint8Array;
  /** Which raw child of the TBS is its signature AlgorithmIdentifier. */
  tbsSignatureField(tbsDer: Uint8Array): Uint8Array;
}

/** The relying party's view of a signed certificate or CRL. Returns the algorithm it was signed with. */
export function checkSigned(der: Uint8Array, check: SignedCheck): SignatureAlgorithm {
  let parts: Tlv[];
  try {
    check.parse(der);
    parts = children(readSingleTlv(der));
    if (parts.length !== 3) throw new Error(`${parts.length} fields, not 3`);
  } catch (e) {
    throw new SignatureCheckError('reparse', `the signed structure does not parse back: ${(e as Error).message}`);
  }
  const [tbs, outerAlg, sig] = parts as [Tlv, Tlv, Tlv];
  if (check.expectedTbs && !bytesEqual(tbs.bytes, check.expectedTbs)) throw new SignatureCheckError('tbs-mismatch', 'the signed TBS differs from the linted one');
  // RFC 5280 §4.1.1.2 / §5.1.1.2: the outer algorithm must be the one inside the signed part.
  if (!bytesEqual(outerAlg.bytes, check.tbsSignatureField(tbs.bytes))) {
    throw new SignatureCheckError('algorithm-mismatch', 'signatureAlgorithm differs from the TBS signature field');
  }
  const alg = findSignatureAlgorithm(outerAlg.bytes);
  if (!alg) throw new SignatureCheckError('algorithm', 'signed with an algorithm we do not verify');
  if (sig.tag !== TAG_BIT_STRING || sig.content[0] !== 0) throw new SignatureCheckError('reparse', 'signature is not a BIT STRING without unused bits');
  if (!verifySignature(alg, tbs.bytes, sig.content.subarray(1), spkiInfo(check.issuerSpki).key)) {
    throw new SignatureCheckError('signature', `the ${alg} signature does not verify under the issuer's public key`);
  }
  return alg;
}
