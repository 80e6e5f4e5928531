// The PKCS#10 schema check on the raw bytes (ca/csr/schema.ts) refuses what parsing the CSR with @peculiar/asn1-csr
// and re-encoding it refused, with the same message. Every row also asks the library itself, so a row whose
// expectation drifted from the library's answer fails too.
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { describe, expect, it } from 'vitest';
import { parseCsr } from '../../ca/csr/index.ts';
import { bytesEqual, toBytes } from '../../ca/x509/der.ts';
import { bits, buildCsr, expectRefusal, int, key, name, nul, oid, OID, seq, set, signers, spkiOf, tlv, utf8, type CsrSpec } from './support.ts';

type Verdict = 'ok' | 'not a PKCS#10' | 'not in DER' | 'could not be parsed';

function libraryVerdict(der: Uint8Array): Verdict {
  let parsed: CertificationRequest;
  try {
    parsed = AsnConvert.parse(der, CertificationRequest);
  } catch {
    return 'not a PKCS#10';
  }
  try {
    return bytesEqual(toBytes(AsnConvert.serialize(parsed)), der) ? 'ok' : 'not in DER';
  } catch {
    return 'could not be parsed';
  }
}

const ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const p256 = () => key('p256');
const withAlgId = (algId: Uint8Array): CsrSpec => ({ signer: signers.raw(algId, p256().privateKey, 'sha256', { dsaEncoding: 'der' }) });
const ecAlg = () => seq(oid(OID.ecPublicKey), oid(OID.p256));
const point = () => spkiOf(p256().publicKey).subarray(-65);
/** An attribute other than the extension request: intake records its OID and ignores its values. */
const attribute = (...parts: Uint8Array[]) => tlv(0xa0, seq(...parts));
const value = (...values: Uint8Array[]) => attribute(oid('1.2.3.4'), set(...values));
/** 2^49 needs 8 base-128 octets, 2^48 seven. */
const ARC_8_OCTETS = (1n << 49n).toString();
const ARC_7_OCTETS = (1n << 48n).toString();
const ARC_9_OCTETS = (1n << 56n).toString();
/** RSA-1024 is weak_key: a row using it shows the schema is refused first, as the round trip did. */
const weak = () => ({ keyPair: key('rsa1024'), signer: signers.rsa(key('rsa1024').privateKey) });
const nested = (depth: number) => Array.from({ length: depth }).reduce<Uint8Array>((inner) => seq(inner), nul());

describe('what the library round trip refused is refused, with its message', () => {
  const rows: [string, () => Uint8Array, Exclude<Verdict, 'ok'>][] = [
    // signatureAlgorithm: SEQUENCE { OID, ANY OPTIONAL }
    ['a signature algorithm that is a bare OID', () => buildCsr(withAlgId(oid(ECDSA_SHA256))), 'not a PKCS#10'],
    ['an empty signature AlgorithmIdentifier', () => buildCsr(withAlgId(seq())), 'not a PKCS#10'],
    ['a signature AlgorithmIdentifier starting with NULL', () => buildCsr(withAlgId(seq(nul(), oid(ECDSA_SHA256)))), 'not a PKCS#10'],
    ['a signature AlgorithmIdentifier of three fields', () => buildCsr(withAlgId(seq(oid(ECDSA_SHA256), nul(), nul()))), 'not in DER'],
    ['a signature AlgorithmIdentifier tagged [0] instead of SEQUENCE', () => buildCsr(withAlgId(tlv(0xa0, oid(ECDSA_SHA256)))), 'not in DER'],
    ['a signature AlgorithmIdentifier that is a SET', () => buildCsr(withAlgId(tlv(0x31, oid(ECDSA_SHA256)))), 'not a PKCS#10'],
    [`a signature algorithm OID with an 8-octet arc`, () => buildCsr(withAlgId(seq(oid(`1.2.${ARC_8_OCTETS}`)))), 'not in DER'],
    // SubjectPublicKeyInfo: SEQUENCE { AlgorithmIdentifier, BIT STRING }
    ['an SPKI without its key', () => buildCsr({ spki: seq(ecAlg()) }), 'not a PKCS#10'],
    ['an SPKI whose key is an OCTET STRING', () => buildCsr({ spki: seq(ecAlg(), tlv(0x04, point())) }), 'not a PKCS#10'],
    ['an SPKI with a field after the key', () => buildCsr({ spki: seq(ecAlg(), bits(point()), nul()) }), 'not in DER'],
    ['an SPKI algorithm that is a bare OID', () => buildCsr({ spki: seq(oid(OID.ecPublicKey), bits(point())) }), 'not a PKCS#10'],
    ['an SPKI AlgorithmIdentifier of three fields', () => buildCsr({ spki: seq(seq(oid(OID.ecPublicKey), oid(OID.p256), nul()), bits(point())) }), 'not in DER'],
    ['an SPKI tagged [1] instead of SEQUENCE', () => buildCsr({ spki: tlv(0xa1, ecAlg(), bits(point())) }), 'not in DER'],
    ['a key algorithm OID with an 8-octet arc', () => buildCsr({ spki: seq(seq(oid(`1.2.${ARC_8_OCTETS}`)), bits(point())) }), 'not in DER'],
    // Attribute: SEQUENCE { OID, SET OF ANY }
    ['an attribute that is a bare OID', () => buildCsr({ ...weak(), attributes: tlv(0xa0, oid('1.2.3.4')) }), 'not a PKCS#10'],
    ['an attribute without values', () => buildCsr({ ...weak(), attributes: attribute(oid('1.2.3.4')) }), 'not a PKCS#10'],
    ['an attribute whose values are a SEQUENCE', () => buildCsr({ ...weak(), attributes: attribute(oid('1.2.3.4'), seq(nul())) }), 'not a PKCS#10'],
    ['an attribute whose type is not an OID', () => buildCsr({ ...weak(), attributes: attribute(nul(), set(nul())) }), 'not a PKCS#10'],
    ['an attribute with a field after its values', () => buildCsr({ ...weak(), attributes: attribute(oid('1.2.3.4'), set(nul()), nul()) }), 'not in DER'],
    ['an attribute tagged [2] instead of SEQUENCE', () => buildCsr({ ...weak(), attributes: tlv(0xa0, tlv(0xa2, oid('1.2.3.4'), set(nul()))) }), 'not in DER'],
    ['an attribute type with an 8-octet arc', () => buildCsr({ ...weak(), attributes: attribute(oid(`1.2.${ARC_8_OCTETS}`), set(nul())) }), 'not in DER'],
    // The subject (decodeSubject checks its shape)
    ['a subject attribute type with an 8-octet arc', () => buildCsr({ ...weak(), subject: name([`1.2.${ARC_8_OCTETS}`, utf8('x')]) }), 'not in DER'],
    ['a subject attribute type with a 9-octet arc', () => buildCsr({ ...weak(), subject: name([`1.2.${ARC_9_OCTETS}`, utf8('x')]) }), 'not in DER'],
    ['a UniversalString subject value beyond U+FFFF', () => buildCsr({ ...weak(), subject: name(['2.5.4.10', tlv(0x1c, [0, 1, 0xf6, 0])]) }), 'not in DER'],
    // ANY values of a type the raw check leaves to the library
    ['an attribute value [UNIVERSAL 15]', () => buildCsr({ ...weak(), attributes: value(tlv(0x0f, [1])) }), 'not a PKCS#10'],
    ['an attribute value that is an odd-length BMPString', () => buildCsr({ ...weak(), attributes: value(tlv(0x1e, [0, 0x41, 0])) }), 'not a PKCS#10'],
    ['an attribute value that is a UniversalString of 3 octets', () => buildCsr({ ...weak(), attributes: value(tlv(0x1c, [0, 0, 0x41])) }), 'not a PKCS#10'],
    ['an attribute value that is a malformed UTCTime', () => buildCsr({ ...weak(), attributes: value(tlv(0x17, Buffer.from('9912312359Z'))) }), 'could not be parsed'],
    ['an attribute value OID with an 8-octet arc', () => buildCsr({ ...weak(), attributes: value(oid(`1.2.${ARC_8_OCTETS}`)) }), 'not in DER'],
    ['algorithm parameters holding a malformed GeneralizedTime', () => buildCsr(withAlgId(seq(oid(ECDSA_SHA256), tlv(0x18, Buffer.from('x'))))), 'not a PKCS#10'],
    // asn1js's own limits: 10,000 nodes (its speculative decoding of BIT STRING contents counts too)
    ['10,001 nodes inside an attribute value BIT STRING', () => buildCsr({ ...weak(), attributes: value(bits(seq(...Array.from({ length: 10_001 }, nul)))) }), 'not a PKCS#10'],
  ];

  it.each(rows)('%s', (_what, make, verdict) => {
    const der = make();
    expect(libraryVerdict(der)).toBe(verdict);
    const message = { 'not a PKCS#10': /^not a PKCS#10 CertificationRequest$/, 'not in DER': /^the CSR is not in DER$/, 'could not be parsed': /^the CSR could not be parsed$/ }[verdict];
    expect(expectRefusal(der, 'bad_csr').error.message).toMatch(message);
  });

  it('nesting beyond asn1js\'s 100 levels, when the caller allows that depth', () => {
    const der = buildCsr({ ...weak(), attributes: value(nested(101)) });
    expect(libraryVerdict(der)).toBe('not a PKCS#10');
    expect(expectRefusal(der, 'bad_csr', { maxDepth: 200 }).error.message).toBe('not a PKCS#10 CertificationRequest');
  });
});

describe('what the library round trip accepted is accepted', () => {
  const rows: [string, () => CsrSpec][] = [
    ['attribute values of the types the raw check knows, nested and unsorted', () => ({
      attributes: value(int(2), nul(), seq(tlv(0x01, [0xff]), tlv(0x04, [1]), bits([5]), utf8('x'), tlv(0x1e, [0, 0x41]), tlv(0x85, [1]), tlv(0x61, int(1)))),
    })],
    ['an attribute value OID with a 7-octet arc', () => ({ attributes: value(oid(`1.2.${ARC_7_OCTETS}`)) })],
    ['an attribute value OID with a 9-octet arc (the library keeps it as octets)', () => ({ attributes: value(oid(`1.2.${ARC_9_OCTETS}`)) })],
    ['an attribute type with a 7-octet arc', () => ({ attributes: attribute(oid(`1.2.${ARC_7_OCTETS}`), set()) })],
    ['an attribute value that is a well-formed UTCTime (decided by the library)', () => ({ attributes: value(tlv(0x17, Buffer.from('991231235959Z'))) })],
    ['a UniversalString subject value within U+FFFF', () => ({ subject: name(['2.5.4.10', tlv(0x1c, [0, 0, 0x4e, 0x2d])]) })],
    ['a multi-valued RDN not in DER SET order (the library does not sort)', () => ({ subject: seq(set(seq(oid('2.5.4.10'), utf8('zz')), seq(oid('2.5.4.3'), utf8('a')))) })],
    ['a CSR over 10,000 bytes (decided by the library)', () => ({ attributes: value(tlv(0x04, new Uint8Array(12_000))) })],
  ];

  it.each(rows)('%s', (_what, spec) => {
    const der = buildCsr(spec());
    expect(libraryVerdict(der)).toBe('ok');
    expect(parseCsr(der).der).toEqual(der);
  });
});
