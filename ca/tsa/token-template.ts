/**
 * The CMS SignedData around a TSTInfo (RFC 3161 §2.4.2, RFC 5652, ESSCertIDv2 per RFC 5816), encoded once per TSA
 * identity: certificates, signer identifier, algorithm identifiers and the signingCertificateV2 attribute never
 * change between tokens, so only the TSTInfo, its digest and the signature are spliced in per token (the object
 * model took ~1.4 ms per OCSP response against 0.1 ms for the HSM signature). test/tsa/encoding.test.ts checks the
 * bytes against @peculiar/asn1-cms's serialisation of the same structure.
 *
 *   ContentInfo { id-signedData, [0] SignedData { version 3, digestAlgorithms { H }, encapContentInfo
 *     { id-ct-TSTInfo, [0] OCTET STRING tstInfo }, [0] certificates { tsaCert } (when certReq),
 *     signerInfos { { version 1, sid issuerAndSerialNumber, H, [0] signedAttrs, signatureAlgorithm, signature } } } }
 *   signedAttrs: contentType id-ct-TSTInfo, messageDigest H(tstInfo), signingCertificateV2 { { ESSCertIDv2
 *     { certHash SHA-256(tsaCert), issuerSerial { { directoryName issuer }, serial } } } } — DER-sorted
 */
import { hash } from 'node:crypto';
import type { SignatureAlgorithm } from '../../hsm/index.ts';
import { algorithmIdentifierDer, hashOf, type HashName } from '../x509/algorithms.ts';
import { children, encodeTlv, readSingleTlv } from '../x509/der.ts';
import { tlvLength, writeBytes, writeHeader } from './der-writer.ts';
import { digestAlgorithmDer, OID, oidDer } from './oids.ts';

const SEQ = 0x30;
const SET = 0x31;
const seq = (...parts: Uint8Array[]) => encodeTlv(SEQ, Buffer.concat(parts));
const set = (...parts: Uint8Array[]) => encodeTlv(SET, Buffer.concat(parts));
const explicit0 = (inner: Uint8Array) => encodeTlv(0xa0, inner);
const octets = (content: Uint8Array) => encodeTlv(0x04, content);
const HASH_LENGTH: Record<HashName, number> = { sha256: 32, sha384: 48, sha512: 64 };
/** TimeStampResp status granted: PKIStatusInfo { status 0 }. */
const GRANTED_STATUS = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00);

export interface CertificateFields {
  issuerDer: Uint8Array;
  subjectDer: Uint8Array;
  /** The serialNumber INTEGER, DER, as in the certificate. */
  serialDer: Uint8Array;
}

/** Issuer, subject and serial of a certificate, as the raw bytes relying parties will compare. */
export function certificateFields(certificateDer: Uint8Array): CertificateFields {
  const tbs = children(readSingleTlv(certificateDer))[0];
  if (!tbs) throw new Error('empty Certificate');
  const fields = children(tbs);
  const o = fields[0]?.tag === 0xa0 ? 1 : 0;
  const [serial, issuer, subject] = [fields[o], fields[o + 2], fields[o + 4]];
  if (!serial || !issuer || !subject || serial.tag !== 0x02) throw new Error('TBSCertificate has too few fields');
  return { issuerDer: issuer.bytes, subjectDer: subject.bytes, serialDer: serial.bytes };
}

export class TokenTemplate {
  readonly digest: HashName;
  /** [0] EXPLICIT GeneralName directoryName of the TSA certificate's subject: TSTInfo's tsa field. */
  readonly tsaNameDer: Uint8Array;
  readonly certSha256: string;
  /** The DER SET OF signed attributes with zeros where the message digest goes, and where that is. */
  private readonly attributes: Buffer;
  private readonly digestAt: number;
  private readonly signerInfoPrefix: Uint8Array;
  private readonly signatureAlgorithmDer: Uint8Array;
  private readonly signedDataPrefix: Uint8Array;
  private readonly certificatesField: Uint8Array;
  private readonly eContentType: Uint8Array;
  private readonly contentInfoOid: Uint8Array;

  constructor(
    readonly certificateDer: Uint8Array,
    readonly algorithm: SignatureAlgorithm,
  ) {
    const digest = hashOf(algorithm);
    if (!digest) throw new Error(`a ${algorithm} key cannot sign time-stamp tokens here (CMS with a pure EdDSA signature is not supported)`);
    this.digest = digest;
    const cert = certificateFields(certificateDer);
    this.tsaNameDer = explicit0(encodeTlv(0xa4, cert.subjectDer));
    const certHash = hash('sha256', certificateDer, 'buffer');
    this.certSha256 = certHash.toString('hex');
    const tstInfoOid = oidDer(OID.tstInfo);
    const contentType = seq(oidDer(OID.contentType), set(tstInfoOid));
    // ESSCertIDv2 with hashAlgorithm left out: its DEFAULT is SHA-256 (RFC 5816 §2.2.1).
    const issuerSerial = seq(seq(encodeTlv(0xa4, cert.issuerDer)), cert.serialDer);
    const signingCertificate = seq(oidDer(OID.signingCertificateV2), set(seq(seq(seq(octets(certHash), issuerSerial)))));
    // Every attribute has a fixed length, so their DER order (SET OF sorts by encoding) is fixed too; a marker
    // digest finds where the real one goes.
    const marker = Buffer.alloc(HASH_LENGTH[digest], 0xa5);
    const messageDigest = seq(oidDer(OID.messageDigest), set(octets(marker)));
    this.attributes = Buffer.from(set(...[contentType, messageDigest, signingCertificate].sort(Buffer.compare)));
    this.digestAt = this.attributes.indexOf(Buffer.concat([Uint8Array.of(0x04, marker.length), marker]), 0) + 2;
    this.attributes.fill(0, this.digestAt, this.digestAt + marker.length);
    const digestAlg = digestAlgorithmDer(digest);
    this.signerInfoPrefix = Buffer.concat([Uint8Array.of(0x02, 0x01, 0x01), seq(cert.issuerDer, cert.serialDer), digestAlg]);
    this.signatureAlgorithmDer = algorithmIdentifierDer(algorithm);
    this.signedDataPrefix = Buffer.concat([Uint8Array.of(0x02, 0x01, 0x03), set(digestAlg)]);
    this.certificatesField = explicit0(certificateDer);
    this.eContentType = tstInfoOid;
    this.contentInfoOid = oidDer(OID.signedData);
  }

  /** The DER SET OF signed attributes over this TSTInfo: the exact bytes the HSM signs. */
  signedAttributes(tstInfo: Uint8Array): Uint8Array {
    const out = Buffer.allocUnsafe(this.attributes.length);
    this.attributes.copy(out);
    hash(this.digest, tstInfo, 'buffer').copy(out, this.digestAt);
    return out;
  }

  /** The TimeStampToken (ContentInfo) around the TSTInfo, its signed attributes and their signature. */
  token(tstInfo: Uint8Array, signedAttributes: Uint8Array, signature: Uint8Array, withCertificate: boolean): Uint8Array {
    return this.response(tstInfo, signedAttributes, signature, withCertificate).tokenDer;
  }

  /** The granted TimeStampResp, written into one buffer; the token is a view into it. */
  response(tstInfo: Uint8Array, signedAttributes: Uint8Array, signature: Uint8Array, withCertificate: boolean): { responseDer: Uint8Array; tokenDer: Uint8Array } {
    const sigOctets = tlvLength(signature.length);
    const signerInfo = this.signerInfoPrefix.length + signedAttributes.length + this.signatureAlgorithmDer.length + sigOctets;
    const signerInfos = tlvLength(signerInfo);
    const eContent = tlvLength(tstInfo.length);
    const encap = this.eContentType.length + tlvLength(eContent);
    const signedData = this.signedDataPrefix.length + tlvLength(encap) + (withCertificate ? this.certificatesField.length : 0) + tlvLength(signerInfos);
    const contentInfo = this.contentInfoOid.length + tlvLength(tlvLength(signedData));
    const token = tlvLength(contentInfo);
    const response = GRANTED_STATUS.length + token;
    const out = Buffer.allocUnsafe(tlvLength(response));
    let o = writeHeader(out, 0, SEQ, response);
    o = writeBytes(out, o, GRANTED_STATUS);
    const tokenAt = o;
    o = writeHeader(out, o, SEQ, contentInfo);
    o = writeBytes(out, o, this.contentInfoOid);
    o = writeHeader(out, o, 0xa0, tlvLength(signedData));
    o = writeHeader(out, o, SEQ, signedData);
    o = writeBytes(out, o, this.signedDataPrefix);
    o = writeHeader(out, o, SEQ, encap);
    o = writeBytes(out, o, this.eContentType);
    o = writeHeader(out, o, 0xa0, eContent);
    o = writeHeader(out, o, 0x04, tstInfo.length);
    o = writeBytes(out, o, tstInfo);
    if (withCertificate) o = writeBytes(out, o, this.certificatesField);
    o = writeHeader(out, o, SET, signerInfos);
    o = writeHeader(out, o, SEQ, signerInfo);
    o = writeBytes(out, o, this.signerInfoPrefix);
    // In SignerInfo the signed attributes are [0] IMPLICIT: the same contents under a context tag.
    out[o] = 0xa0;
    o = writeBytes(out, o + 1, signedAttributes.subarray(1));
    o = writeBytes(out, o, this.signatureAlgorithmDer);
    o = writeHeader(out, o, 0x04, signature.length);
    writeBytes(out, o, signature);
    return { responseDer: out, tokenDer: out.subarray(tokenAt) };
  }
}
