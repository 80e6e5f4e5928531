/**
 * A relying party's check of one of our time-stamp tokens (used for audit anchors, where a token is read back
 * long after it was made): the CMS structure, the signed attributes (content type, message digest of the
 * TSTInfo, ESSCertIDv2 naming the certificate that signed), the signature under that certificate's key, the
 * certificate being a TSA certificate valid at genTime, and it chaining to one of the CA certificates given.
 * Throws TokenVerifyError naming the first thing that does not hold.
 */
import { createHash } from 'node:crypto';
import { Attribute } from '@peculiar/asn1-cms';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { TSTInfo } from '@peculiar/asn1-tsp';
import type { HashName } from '../x509/algorithms.ts';
import { bytesEqual, children, readSingleTlv, toBytes, type Tlv } from '../x509/der.ts';
import { issuerInfo, parseSpki, signatureAlgorithmOf, verifyCertificate } from '../x509/index.ts';
import { verifySignature } from '../x509/verify-signature.ts';
import { IMPRINT_ALGORITHMS, OID, oidDer, oidString } from './oids.ts';
import { certificateFields } from './token-template.ts';
import { checkTsaCertificate } from './tsa-identity.ts';

export class TokenVerifyError extends Error {
  override readonly name = 'TokenVerifyError';
}

export interface VerifiedToken {
  serial: bigint;
  genTime: Date;
  policy: string;
  hash: HashName;
  imprint: Uint8Array;
  certificateDer: Uint8Array;
}

const fail = (why: string): never => {
  throw new TokenVerifyError(why);
};

function kids(t: Tlv | undefined, what: string): Tlv[] {
  if (!t) return fail(`${what} is missing`);
  try {
    return children(t);
  } catch {
    return fail(`${what} is not a constructed value`);
  }
}

/** `caCertificates`: DER certificates of the CAs that may have issued the TSA certificate. */
export function verifyTimestampToken(tokenDer: Uint8Array, caCertificates: readonly Uint8Array[]): VerifiedToken {
  let contentInfo: Tlv;
  try {
    contentInfo = readSingleTlv(tokenDer);
  } catch {
    return fail('the token is not DER');
  }
  const [ciType, ciContent] = kids(contentInfo, 'ContentInfo');
  if (!ciType || !bytesEqual(ciType.bytes, oidDer(OID.signedData))) fail('the token is not CMS SignedData');
  const sd = kids(kids(ciContent, 'SignedData wrapper')[0], 'SignedData');
  const encap = kids(sd[2], 'encapContentInfo');
  if (!encap[0] || !bytesEqual(encap[0].bytes, oidDer(OID.tstInfo))) fail('the token does not hold a TSTInfo');
  const eContent = kids(encap[1], 'eContent')[0];
  if (!eContent || eContent.tag !== 0x04) fail('eContent is not an OCTET STRING');
  const tstInfoDer = eContent!.content;
  const certificates = sd.find((t) => t.tag === 0xa0);
  const certificateDer = certificates ? kids(certificates, 'certificates')[0]?.bytes : undefined;
  if (!certificateDer) return fail('the token carries no certificate (anchors are requested with certReq)');
  const signerInfos = kids(sd[sd.length - 1], 'signerInfos');
  if (signerInfos.length !== 1) fail(`${signerInfos.length} SignerInfos, not 1`);
  const si = kids(signerInfos[0], 'SignerInfo');
  const signedAttrs = si.find((t) => t.tag === 0xa0) ?? fail('no signed attributes');
  const [sigAlg, sig] = si.slice(-2);
  if (!sigAlg || !sig || sig.tag !== 0x04) fail('SignerInfo has no signature');

  // The certificate, and that it signed.
  const fields = certificateFields(certificateDer);
  const sid = si[1] ? kids(si[1], 'sid') : [];
  if (!sid[0] || !sid[1] || !bytesEqual(sid[0].bytes, fields.issuerDer) || !bytesEqual(sid[1].bytes, fields.serialDer)) fail('the signer identifier does not name the certificate in the token');
  let alg;
  try {
    alg = signatureAlgorithmOf(sigAlg!.bytes);
  } catch {
    return fail('signed with an algorithm we do not verify');
  }
  const setOf = Buffer.from(signedAttrs.bytes);
  setOf[0] = 0x31;
  if (!verifySignature(alg, setOf, sig!.content, parseSpki(issuerInfo(certificateDer).spki).key)) fail('the signature does not verify under the TSA certificate');

  // Signed attributes: content type, digest of this TSTInfo, and the certificate named by ESSCertIDv2.
  const attrs = kids(signedAttrs, 'signed attributes').map((t) => AsnConvert.parse(t.bytes, Attribute));
  const attr = (oid: string) => attrs.find((a) => a.attrType === oid)?.attrValues[0] ?? fail(`signed attribute ${oid} is missing`);
  if (!bytesEqual(new Uint8Array(attr(OID.contentType)), oidDer(OID.tstInfo))) fail('content-type attribute is not id-ct-TSTInfo');
  const digestAlgOid = kids(si[2], 'digestAlgorithm')[0];
  const digestAlg = IMPRINT_ALGORITHMS.find((a) => digestAlgOid && bytesEqual(a.oid, digestAlgOid.bytes)) ?? fail('digest algorithm not SHA-256/384/512');
  const md = AsnConvert.parse(attr(OID.messageDigest), OctetString);
  if (!bytesEqual(new Uint8Array(md.buffer), createHash(digestAlg.hash).update(tstInfoDer).digest())) fail('message-digest attribute does not match the TSTInfo');
  const ess = kids(readSingleTlv(new Uint8Array(attr(OID.signingCertificateV2))), 'signingCertificateV2');
  const essId = kids(kids(ess[0], 'certs')[0], 'ESSCertIDv2');
  const certHash = essId.find((t) => t.tag === 0x04);
  if (essId[0]?.tag === 0x30 && essId[0] !== certHash) fail('ESSCertIDv2 with a hash other than the default SHA-256');
  if (!certHash || !bytesEqual(certHash.content, createHash('sha256').update(certificateDer).digest())) fail('ESSCertIDv2 does not name the certificate that signed');

  // The TSTInfo, and the certificate as a TSA certificate from one of our CAs, valid at genTime.
  const tst = AsnConvert.parse(tstInfoDer, TSTInfo);
  const info = issuerInfo(certificateDer);
  try {
    checkTsaCertificate(info);
  } catch (e) {
    fail((e as Error).message);
  }
  if (tst.genTime < info.notBefore || tst.genTime > info.notAfter) fail('genTime is outside the TSA certificate validity');
  const issuer = caCertificates.find((ca) => {
    if (!bytesEqual(issuerInfo(ca).subjectDer, fields.issuerDer)) return false;
    try {
      verifyCertificate(certificateDer, { issuerSpki: issuerInfo(ca).spki });
      return true;
    } catch {
      return false;
    }
  });
  if (!issuer) fail('the TSA certificate was not issued by any of our CAs');
  const hash = IMPRINT_ALGORITHMS.find((a) => oidString(a.oid.subarray(2)) === tst.messageImprint.hashAlgorithm.algorithm)?.hash ?? fail('imprint algorithm not SHA-256/384/512');
  return {
    serial: BigInt(`0x${Buffer.from(tst.serialNumber).toString('hex') || '0'}`),
    genTime: tst.genTime,
    policy: tst.policy,
    hash,
    imprint: toBytes(tst.messageImprint.hashedMessage.buffer),
    certificateDer,
  };
}
