// Requests and responses built with the @peculiar/asn1-ocsp object model: the reference serialiser our bytes are
// compared with, and the source of well-formed-but-unacceptable requests for the malformed table.
import { CertID, OCSPRequest, Request, TBSRequest, id_pkix_ocsp_nonce, type Signature } from '@peculiar/asn1-ocsp';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Extension } from '@peculiar/asn1-x509';
import { serialFromBigint } from '../../../ca/x509/index.ts';

export const SHA1 = '1.3.14.3.2.26';
export const SHA256 = '2.16.840.1.101.3.4.2.1';
export const MD5 = '1.2.840.113549.2.5';

export const der = (value: unknown): Uint8Array => new Uint8Array(AsnConvert.serialize(value));
export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
export const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

export interface CertIdSpec {
  hash?: string;
  nameHash?: Uint8Array;
  keyHash?: Uint8Array;
  /** INTEGER contents, hex. */
  serial?: string;
  nullParams?: boolean;
}

/**
 * A serial's hex as the DER INTEGER contents the CA writes (ca/x509's serial encoding, in hex): whole octets, and a
 * 00 octet where the top bit would otherwise make it negative. About one CA serial in 256 needs that octet (a first
 * random octet of 00, then one with its top bit set), so padding the hex alone made a CertID the CA never issued.
 */
export function serialContents(serialHex: string): string {
  return hex(serialFromBigint(BigInt(`0x${serialHex}`)).bytes);
}

export function certId({ hash = SHA1, nameHash, keyHash, serial = '01', nullParams = true }: CertIdSpec = {}): CertID {
  const length = hash === SHA256 ? 32 : hash === MD5 ? 16 : 20;
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier(nullParams ? { algorithm: hash, parameters: null } : { algorithm: hash }),
    issuerNameHash: new OctetString(nameHash ?? new Uint8Array(length).fill(0x11)),
    issuerKeyHash: new OctetString(keyHash ?? new Uint8Array(length).fill(0x22)),
    serialNumber: new Uint8Array(fromHex(serial)).buffer,
  });
}

export function nonceExtension(nonce: Uint8Array, critical = false): Extension {
  return new Extension({ extnID: id_pkix_ocsp_nonce, critical, extnValue: new OctetString(der(new OctetString(nonce))) });
}

export interface RequestSpec {
  certIds?: CertID[];
  extensions?: Extension[];
  singleExtensions?: Extension[];
  version?: number;
  signature?: Signature;
}

export function request({ certIds = [certId()], extensions, singleExtensions, version, signature }: RequestSpec = {}): Uint8Array {
  const tbs = new TBSRequest({ requestList: certIds.map((reqCert) => new Request({ reqCert })) });
  if (extensions) tbs.requestExtensions = extensions;
  if (version !== undefined) tbs.version = version;
  const out = der(new OCSPRequest({ tbsRequest: tbs, ...(signature ? { optionalSignature: signature } : {}) }));
  return singleExtensions ? withSingleExtensions(out, singleExtensions) : out;
}

/** A plain DER TLV, independent of the code under test. */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const content = Buffer.concat(parts);
  const n = content.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Uint8Array.from(Buffer.concat([Uint8Array.of(tag, ...len), content]));
}

/**
 * @peculiar/asn1-ocsp 2.6.1 declares Request.singleRequestExtensions without its [0] EXPLICIT tag (RFC 6960
 * §4.1.1), so such requests are assembled here: each Request gets `[0] { SEQUENCE OF Extension }` appended.
 */
function withSingleExtensions(requestDer: Uint8Array, extensions: Extension[]): Uint8Array {
  const parsed = AsnConvert.parse(requestDer, OCSPRequest);
  const block = tlv(0xa0, tlv(0x30, ...extensions.map((e) => der(e))));
  const requests = parsed.tbsRequest.requestList.map((r) => tlv(0x30, der(r.reqCert), block));
  const tbs = parsed.tbsRequest;
  const tbsParts = [
    ...(tbs.version !== 0 ? [tlv(0xa0, fromHex(`02010${tbs.version}`))] : []),
    tlv(0x30, ...requests),
    ...(tbs.requestExtensions ? [tlv(0xa2, tlv(0x30, ...tbs.requestExtensions.map((e) => der(e))))] : []),
  ];
  return tlv(0x30, tlv(0x30, ...tbsParts), ...(parsed.optionalSignature ? [tlv(0xa0, der(parsed.optionalSignature))] : []));
}
