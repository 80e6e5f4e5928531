/**
 * Successful OCSPResponses (RFC 6960 §4.2) for the hot path. What never changes for a responder — ResponderID,
 * signature AlgorithmIdentifier, the certs block — is encoded once in the constructor; each response is then sized
 * and written into one buffer: over 100× cheaper than the @peculiar/asn1-ocsp object model (measure.ts in the
 * tests), whose serialisation of the same structure the tests compare every byte with.
 */
import { createPublicKey } from 'node:crypto';
import type { SignatureAlgorithm } from '../../hsm/key-spec.ts';
import { certificateFields } from './certificate-fields.ts';
import { DerCursor, isSingleTlv } from './der-reader.ts';
import { contextConstructed, contextPrimitive, TAG, tlv, tlvLength, writeBytes, writeHeader } from './der-writer.ts';
import { OcspEncodingError } from './errors.ts';
import { checkTime, GENERALIZED_TIME_LENGTH, writeGeneralizedTime } from './generalized-time.ts';
import { keyHashSha1 } from './issuer-hashes.ts';
import { OID_OCSP_BASIC, OID_OCSP_NONCE } from './oids.ts';
import { MAX_NONCE_OCTETS, MIN_NONCE_OCTETS } from './request.ts';
import { signatureAlgorithmIdentifier } from './signature-algorithm.ts';

export type RevocationReasonName =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'removeFromCRL'
  | 'privilegeWithdrawn'
  | 'aACompromise';

/** RFC 5280 §5.3.1 CRLReason codes (7 is unused). */
export const REVOCATION_REASON_CODES: Readonly<Record<RevocationReasonName, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

export type CertStatus = { kind: 'good' } | { kind: 'unknown' } | { kind: 'revoked'; time: Date; reason?: RevocationReasonName };

export interface SingleResponseInput {
  /** The CertID TLV from the request (OcspCertId.der), echoed verbatim. */
  certIdDer: Uint8Array;
  status: CertStatus;
  thisUpdate: Date;
  nextUpdate?: Date;
}

export interface ResponderIdentity {
  /** The delegated responder certificate, carried in `certs`. */
  certificateDer: Uint8Array;
  signatureAlgorithm: SignatureAlgorithm;
}

type SignatureShape = { kind: 'ecdsa-der' } | { kind: 'fixed'; length: number };

// OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED successful(0), responseBytes [0] EXPLICIT ... }
const SUCCESSFUL = Uint8Array.of(TAG.ENUMERATED, 1, 0);
const BASIC_OID = tlv(TAG.OID, OID_OCSP_BASIC);
const NONCE_OID = tlv(TAG.OID, OID_OCSP_NONCE);
const GOOD = Uint8Array.of(contextPrimitive(0), 0); // [0] IMPLICIT NULL
const UNKNOWN = Uint8Array.of(contextPrimitive(2), 0); // [2] IMPLICIT NULL
const REASON_LENGTH = 5; // [0] EXPLICIT { ENUMERATED code }
const NEXT_UPDATE_LENGTH = 2 + GENERALIZED_TIME_LENGTH; // [0] EXPLICIT GeneralizedTime

export class ResponseEncoder {
  /** SHA-1 of the responder's subjectPublicKey value: ResponderID byKey. */
  readonly keyHash: Uint8Array;
  readonly signatureAlgorithm: SignatureAlgorithm;
  private readonly responderId: Uint8Array;
  private readonly algorithmIdentifier: Uint8Array;
  private readonly certs: Uint8Array;
  private readonly signatureShape: SignatureShape;

  /** Throws OcspEncodingError for a certificate that does not parse or whose key cannot make the algorithm. */
  constructor(identity: ResponderIdentity) {
    const { certificateDer, signatureAlgorithm } = identity;
    const algorithmIdentifier = signatureAlgorithmIdentifier(signatureAlgorithm);
    if (!algorithmIdentifier) throw new OcspEncodingError(`unknown signature algorithm ${String(signatureAlgorithm)}`);
    this.signatureAlgorithm = signatureAlgorithm;
    this.algorithmIdentifier = algorithmIdentifier;
    this.signatureShape = signatureShapeFor(signatureAlgorithm, certificateFields(certificateDer).spki);
    this.keyHash = keyHashSha1(certificateDer);
    this.responderId = tlv(contextConstructed(2), tlv(TAG.OCTET_STRING, this.keyHash)); // byKey [2] EXPLICIT KeyHash
    this.certs = tlv(contextConstructed(0), tlv(TAG.SEQUENCE, certificateDer)); // [0] EXPLICIT SEQUENCE OF Certificate
  }

  /** The ResponseData DER: the bytes to sign. Times are GeneralizedTime in whole seconds (fractions dropped). */
  tbs(responses: readonly SingleResponseInput[], producedAt: Date, nonce?: Uint8Array): Uint8Array {
    if (responses.length === 0) throw new OcspEncodingError('a response needs at least one SingleResponse');
    checkTime(producedAt, 'producedAt');
    if (nonce !== undefined && (nonce.length < MIN_NONCE_OCTETS || nonce.length > MAX_NONCE_OCTETS)) {
      throw new OcspEncodingError(`nonce of ${nonce.length} octets; ${MIN_NONCE_OCTETS}..${MAX_NONCE_OCTETS} expected`);
    }

    // Pass 1: sizes (and every input checked before anything is written).
    const contentLengths: number[] = [];
    let listLength = 0;
    for (const r of responses) {
      const n = singleResponseContentLength(r);
      contentLengths.push(n);
      listLength += tlvLength(n);
    }
    // [1] EXPLICIT Extensions { Extension { extnID, extnValue OCTET STRING { OCTET STRING nonce } } }
    const nonceValueLength = nonce ? tlvLength(nonce.length) : 0;
    const extensionLength = nonce ? NONCE_OID.length + tlvLength(nonceValueLength) : 0;
    const extensionsLength = nonce ? tlvLength(tlvLength(tlvLength(extensionLength))) : 0;
    const dataLength = this.responderId.length + GENERALIZED_TIME_LENGTH + tlvLength(listLength) + extensionsLength;

    // Pass 2: forward writes into one buffer.
    const out = new Uint8Array(tlvLength(dataLength));
    let at = writeHeader(out, 0, TAG.SEQUENCE, dataLength);
    at = writeBytes(out, at, this.responderId);
    at = writeGeneralizedTime(out, at, producedAt);
    at = writeHeader(out, at, TAG.SEQUENCE, listLength);
    for (let i = 0; i < responses.length; i++) at = writeSingleResponse(out, at, responses[i]!, contentLengths[i]!);
    if (nonce) {
      at = writeHeader(out, at, contextConstructed(1), tlvLength(tlvLength(extensionLength)));
      at = writeHeader(out, at, TAG.SEQUENCE, tlvLength(extensionLength));
      at = writeHeader(out, at, TAG.SEQUENCE, extensionLength);
      at = writeBytes(out, at, NONCE_OID);
      at = writeHeader(out, at, TAG.OCTET_STRING, nonceValueLength);
      at = writeHeader(out, at, TAG.OCTET_STRING, nonce.length);
      at = writeBytes(out, at, nonce);
    }
    if (at !== out.length) throw new OcspEncodingError('ResponseData size mismatch'); // a bug here, never input
    return out;
  }

  /**
   * The successful OCSPResponse (id-pkix-ocsp-basic) around `tbs` (from tbs()) and its signature: DER
   * SEQUENCE { r, s } for ECDSA (the HSM layer's encoding 'der'), the raw signature for RSA and Ed25519.
   */
  assemble(tbs: Uint8Array, signature: Uint8Array): Uint8Array {
    checkSingleSequence(tbs, 'tbs');
    this.checkSignature(signature);
    const bitStringLength = signature.length + 1;
    const basicLength = tbs.length + this.algorithmIdentifier.length + tlvLength(bitStringLength) + this.certs.length;
    const octetStringLength = tlvLength(basicLength);
    const responseBytesLength = BASIC_OID.length + tlvLength(octetStringLength);
    const explicitLength = tlvLength(responseBytesLength);
    const outerLength = SUCCESSFUL.length + tlvLength(explicitLength);

    const out = new Uint8Array(tlvLength(outerLength));
    let at = writeHeader(out, 0, TAG.SEQUENCE, outerLength);
    at = writeBytes(out, at, SUCCESSFUL);
    at = writeHeader(out, at, contextConstructed(0), explicitLength);
    at = writeHeader(out, at, TAG.SEQUENCE, responseBytesLength);
    at = writeBytes(out, at, BASIC_OID);
    at = writeHeader(out, at, TAG.OCTET_STRING, octetStringLength);
    at = writeHeader(out, at, TAG.SEQUENCE, basicLength);
    at = writeBytes(out, at, tbs);
    at = writeBytes(out, at, this.algorithmIdentifier);
    at = writeHeader(out, at, TAG.BIT_STRING, bitStringLength);
    out[at++] = 0; // no unused bits
    at = writeBytes(out, at, signature);
    at = writeBytes(out, at, this.certs);
    if (at !== out.length) throw new OcspEncodingError('OCSPResponse size mismatch');
    return out;
  }

  /** Cheap shape checks that catch a wrong encoding (raw r||s for ECDSA) or a wrong key before a client does. */
  private checkSignature(signature: Uint8Array): void {
    const shape = this.signatureShape;
    if (shape.kind === 'fixed') {
      if (signature.length !== shape.length) {
        throw new OcspEncodingError(`${this.signatureAlgorithm} signature of ${signature.length} octets; ${shape.length} expected`);
      }
      return;
    }
    const top = new DerCursor(signature, 0, signature.length, notEcdsaDer);
    const seq = top.inside(top.read(TAG.SEQUENCE, 'ECDSA-Sig-Value'));
    top.finish('ECDSA-Sig-Value');
    for (let i = 0; i < 2; i++) {
      const n = seq.read(TAG.INTEGER, 'ECDSA-Sig-Value');
      if (n.end === n.start || signature[n.start]! & 0x80) throw notEcdsaDer();
      if (n.end - n.start > 1 && signature[n.start] === 0 && !(signature[n.start + 1]! & 0x80)) throw notEcdsaDer();
    }
    seq.finish('ECDSA-Sig-Value');
  }
}

function signatureShapeFor(alg: SignatureAlgorithm, spki: Uint8Array): SignatureShape {
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    throw new OcspEncodingError('the responder certificate carries a public key Node cannot read');
  }
  const type = key.asymmetricKeyType;
  const family = alg.startsWith('ecdsa-') ? 'ec' : alg.startsWith('rsa-pss-') ? 'rsa-pss' : alg.startsWith('rsa-') ? 'rsa' : 'ed25519';
  const fits = family === 'rsa-pss' ? type === 'rsa' || type === 'rsa-pss' : type === family;
  if (!fits) throw new OcspEncodingError(`a ${String(type)} responder key cannot sign ${alg}`);
  if (family === 'ec') return { kind: 'ecdsa-der' };
  if (family === 'ed25519') return { kind: 'fixed', length: 64 };
  return { kind: 'fixed', length: Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8) };
}

// Module-level, not closures: the encoder runs per response, and tsx wraps every closure it creates in __name().
function notEcdsaDer(): OcspEncodingError {
  return new OcspEncodingError('ECDSA signature is not DER SEQUENCE { r INTEGER, s INTEGER } (pass encoding "der")');
}

function checkSingleSequence(bytes: Uint8Array, what: string): void {
  if (!isSingleTlv(bytes, TAG.SEQUENCE)) throw new OcspEncodingError(`${what} is not one DER SEQUENCE`);
}

function statusLength(status: CertStatus): number {
  switch (status.kind) {
    case 'good':
    case 'unknown':
      return 2;
    case 'revoked':
      checkTime(status.time, 'revocationTime');
      if (status.reason !== undefined && !Object.hasOwn(REVOCATION_REASON_CODES, status.reason)) {
        throw new OcspEncodingError(`unknown revocation reason ${String(status.reason)}`);
      }
      return tlvLength(GENERALIZED_TIME_LENGTH + (status.reason === undefined ? 0 : REASON_LENGTH));
    default:
      throw new OcspEncodingError(`unknown certificate status ${String((status as { kind: unknown }).kind)}`);
  }
}

function singleResponseContentLength(r: SingleResponseInput): number {
  checkSingleSequence(r.certIdDer, 'certIdDer');
  checkTime(r.thisUpdate, 'thisUpdate');
  if (r.nextUpdate !== undefined) checkTime(r.nextUpdate, 'nextUpdate');
  return r.certIdDer.length + statusLength(r.status) + GENERALIZED_TIME_LENGTH + (r.nextUpdate === undefined ? 0 : NEXT_UPDATE_LENGTH);
}

// SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate, nextUpdate [0] EXPLICIT OPTIONAL }
function writeSingleResponse(out: Uint8Array, at: number, r: SingleResponseInput, contentLength: number): number {
  at = writeHeader(out, at, TAG.SEQUENCE, contentLength);
  at = writeBytes(out, at, r.certIdDer);
  const status = r.status;
  if (status.kind === 'good') at = writeBytes(out, at, GOOD);
  else if (status.kind === 'unknown') at = writeBytes(out, at, UNKNOWN);
  else {
    // revoked [1] IMPLICIT RevokedInfo { revocationTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }
    const reason = status.reason === undefined ? undefined : REVOCATION_REASON_CODES[status.reason];
    at = writeHeader(out, at, contextConstructed(1), GENERALIZED_TIME_LENGTH + (reason === undefined ? 0 : REASON_LENGTH));
    at = writeGeneralizedTime(out, at, status.time);
    if (reason !== undefined) {
      out.set([contextConstructed(0), 3, TAG.ENUMERATED, 1, reason], at);
      at += REASON_LENGTH;
    }
  }
  at = writeGeneralizedTime(out, at, r.thisUpdate);
  if (r.nextUpdate !== undefined) {
    at = writeHeader(out, at, contextConstructed(0), GENERALIZED_TIME_LENGTH);
    at = writeGeneralizedTime(out, at, r.nextUpdate);
  }
  return at;
}
