// The self-signature: which algorithms are accepted, which are refused, and that it must verify.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCsr } from '../../ca/csr/index.ts';
import { buildCsr, cnName, expectRefusal, ext, extensionRequest, int, key, nul, oid, partsOf, replaceBytes, seq, signers, tlv, type CsrSpec } from './support.ts';

const p256 = () => key('p256');
const rsa = () => key('rsa2048');
const hashId = (o: string) => seq(oid(o), nul());
const SHA1 = '1.3.14.3.2.26';
const SHA256 = '2.16.840.1.101.3.4.2.1';
const MGF1 = '1.2.840.113549.1.1.8';
const PSS = '1.2.840.113549.1.1.10';

describe('accepted signature algorithms', () => {
  it.each([
    ['ECDSA P-256 with SHA-256', () => ({ signer: signers.ecdsa(p256().privateKey, 'sha256') }), 'ecdsa-sha256'],
    ['ECDSA P-256 with SHA-384', () => ({ signer: signers.ecdsa(p256().privateKey, 'sha384') }), 'ecdsa-sha384'],
    ['ECDSA P-256 with SHA-512', () => ({ signer: signers.ecdsa(p256().privateKey, 'sha512') }), 'ecdsa-sha512'],
    ['ECDSA P-384 with SHA-384', () => ({ keyPair: key('p384'), signer: signers.ecdsa(key('p384').privateKey, 'sha384') }), 'ecdsa-sha384'],
    ['RSA PKCS#1 v1.5 with SHA-256', () => ({ keyPair: rsa(), signer: signers.rsa(rsa().privateKey, 'sha256') }), 'rsa-pkcs1-sha256'],
    ['RSA PKCS#1 v1.5 with SHA-384', () => ({ keyPair: rsa(), signer: signers.rsa(rsa().privateKey, 'sha384') }), 'rsa-pkcs1-sha384'],
    ['RSA PKCS#1 v1.5 with SHA-512', () => ({ keyPair: rsa(), signer: signers.rsa(rsa().privateKey, 'sha512') }), 'rsa-pkcs1-sha512'],
    ['RSA PKCS#1 v1.5 with SHA-256, NULL parameters absent', () => ({ keyPair: rsa(), signer: signers.rsa(rsa().privateKey, 'sha256', { absentNull: true }) }), 'rsa-pkcs1-sha256'],
    ['RSASSA-PSS with SHA-256', () => ({ keyPair: rsa(), signer: signers.pss(rsa().privateKey, 'sha256') }), 'rsa-pss-sha256'],
    ['RSASSA-PSS with SHA-384', () => ({ keyPair: rsa(), signer: signers.pss(rsa().privateKey, 'sha384') }), 'rsa-pss-sha384'],
    ['RSASSA-PSS with SHA-512', () => ({ keyPair: rsa(), signer: signers.pss(rsa().privateKey, 'sha512') }), 'rsa-pss-sha512'],
    ['RSASSA-PSS with SHA-256 and salt length 0', () => ({ keyPair: rsa(), signer: signers.pss(rsa().privateKey, 'sha256', 0) }), 'rsa-pss-sha256'],
    ['RSASSA-PSS with SHA-256 and salt length 20', () => ({ keyPair: rsa(), signer: signers.pss(rsa().privateKey, 'sha256', 20) }), 'rsa-pss-sha256'],
  ] as [string, () => CsrSpec, string][])('%s', (_what, spec, alg) => {
    expect(parseCsr(buildCsr(spec())).signatureAlgorithm).toBe(alg);
  });
});

describe('refused signatures (bad_csr)', () => {
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pssWith = (params: Uint8Array, hash = 'sha256', saltLength = 32) =>
    signers.raw(seq(oid(PSS), params), rsa().privateKey, hash, { padding: 6, saltLength } as never);

  const rows: [string, () => Uint8Array, RegExp][] = [
    ['a signature with one bit flipped', () => buildCsr({ tamperSignature: (s) => { const c = Uint8Array.from(s); c[c.length - 1]! ^= 1; return c; } }), /does not verify/],
    ['a signature by another key', () => buildCsr({ signer: signers.ecdsa(other.privateKey) }), /does not verify/],
    ['an RSA signature by another key', () => buildCsr({ keyPair: rsa(), signer: signers.rsa(key('rsa2052').privateKey) }), /does not verify/],
    ['a subject changed after signing', () => replaceBytes(buildCsr({ subject: cnName('a.svc.example') }), 'a.svc', 'b.svc'), /does not verify/],
    ['an empty signature', () => buildCsr({ tamperSignature: () => new Uint8Array(0) }), /does not verify/],
    ['a PSS signature with another salt length than stated', () => buildCsr({ keyPair: rsa(), signer: { ...signers.pss(rsa().privateKey, 'sha256', 32), sign: signers.pss(rsa().privateKey, 'sha256', 20).sign } }), /does not verify/],
    ['MD5 with RSA', () => buildCsr({ keyPair: rsa(), signer: signers.raw(seq(oid('1.2.840.113549.1.1.4'), nul()), rsa().privateKey, 'md5') }), /MD5/],
    ['SHA-1 with RSA', () => buildCsr({ keyPair: rsa(), signer: signers.raw(seq(oid('1.2.840.113549.1.1.5'), nul()), rsa().privateKey, 'sha1') }), /SHA-1/],
    ['SHA-1 with ECDSA', () => buildCsr({ signer: signers.raw(seq(oid('1.2.840.10045.4.1')), p256().privateKey, 'sha1', { dsaEncoding: 'der' }) }), /SHA-1/],
    ['SHA-224 with RSA', () => buildCsr({ keyPair: rsa(), signer: signers.raw(seq(oid('1.2.840.113549.1.1.14'), nul()), rsa().privateKey, 'sha224') }), /SHA-224/],
    ['SHA-224 with ECDSA', () => buildCsr({ signer: signers.raw(seq(oid('1.2.840.10045.4.3.1')), p256().privateKey, 'sha224', { dsaEncoding: 'der' }) }), /SHA-224/],
    ['a DSA key signing with DSA-SHA256', () => buildCsr({ keyPair: key('dsa'), signer: signers.raw(seq(oid('2.16.840.1.101.3.4.3.2')), key('dsa').privateKey, 'sha256') }), /DSA signatures/],
    ['a DSA key signing with DSA-SHA1', () => buildCsr({ keyPair: key('dsa'), signer: signers.raw(seq(oid('1.2.840.10040.4.3')), key('dsa').privateKey, 'sha1') }), /DSA signatures/],
    ['a DSA key behind an ECDSA label', () => buildCsr({ keyPair: key('dsa'), signer: signers.raw(seq(oid('1.2.840.10045.4.3.2')), key('dsa').privateKey, 'sha256') }), /DSA keys/],
    ['an Ed448 signature', () => buildCsr({ keyPair: key('ed448'), signer: signers.raw(seq(oid('1.3.101.113')), key('ed448').privateKey, null) }), /1\.3\.101\.113 is not accepted/],
    ['an unknown algorithm', () => buildCsr({ signer: signers.raw(seq(oid('1.2.3.4')), p256().privateKey, 'sha256') }), /1\.2\.3\.4 is not accepted/],
    ['an ECDSA label on an RSA key', () => buildCsr({ keyPair: rsa(), signer: signers.raw(seq(oid('1.2.840.10045.4.3.2')), rsa().privateKey, 'sha256') }), /does not fit the key/],
    ['an RSA label on an EC key', () => buildCsr({ signer: signers.raw(seq(oid('1.2.840.113549.1.1.11'), nul()), p256().privateKey, 'sha256', { dsaEncoding: 'der' }) }), /does not fit the key/],
    ['an Ed25519 label on an EC key', () => buildCsr({ signer: signers.raw(seq(oid('1.3.101.112')), p256().privateKey, 'sha256', { dsaEncoding: 'der' }) }), /does not fit the key/],
    ['ECDSA with NULL parameters', () => buildCsr({ signer: signers.raw(seq(oid('1.2.840.10045.4.3.2'), nul()), p256().privateKey, 'sha256', { dsaEncoding: 'der' }) }), /must not have parameters/],
    ['RSA PKCS#1 with non-NULL parameters', () => buildCsr({ keyPair: rsa(), signer: signers.raw(seq(oid('1.2.840.113549.1.1.11'), oid('1.2.3')), rsa().privateKey, 'sha256') }), /must be NULL/],
    ['RSASSA-PSS without parameters (SHA-1 defaults)', () => buildCsr({ keyPair: rsa(), signer: signers.raw(seq(oid(PSS)), rsa().privateKey, 'sha1') }), /SHA-1/],
    ['RSASSA-PSS with all-default parameters (SHA-1)', () => buildCsr({ keyPair: rsa(), signer: pssWith(seq(), 'sha1', 20) }), /hash must be SHA-256/],
    ['RSASSA-PSS with SHA-256 but (default) MGF1-SHA1', () => buildCsr({ keyPair: rsa(), signer: pssWith(seq(tlv(0xa0, hashId(SHA256)), tlv(0xa2, int(32)))) }), /same hash/],
    ['RSASSA-PSS writing out the default MGF1-SHA1', () => buildCsr({ keyPair: rsa(), signer: pssWith(seq(tlv(0xa0, hashId(SHA256)), tlv(0xa1, seq(oid(MGF1), hashId(SHA1))), tlv(0xa2, int(32)))) }), /not DER/],
    ['RSASSA-PSS writing out the default salt length 20', () => buildCsr({ keyPair: rsa(), signer: pssWith(seq(tlv(0xa0, hashId(SHA256)), tlv(0xa1, seq(oid(MGF1), hashId(SHA256))), tlv(0xa2, int(20))), 'sha256', 20) }), /not DER/],
    ['RSASSA-PSS writing out the default trailer field', () => buildCsr({ keyPair: rsa(), signer: pssWith(seq(tlv(0xa0, hashId(SHA256)), tlv(0xa1, seq(oid(MGF1), hashId(SHA256))), tlv(0xa2, int(32)), tlv(0xa3, int(1)))) }), /not DER/],
    ['RSASSA-PSS with trailer field 2', () => buildCsr({ keyPair: rsa(), signer: pssWith(seq(tlv(0xa0, hashId(SHA256)), tlv(0xa1, seq(oid(MGF1), hashId(SHA256))), tlv(0xa2, int(32)), tlv(0xa3, int(2)))) }), /trailer field/],
    ['RSASSA-PSS with garbage parameters', () => buildCsr({ keyPair: rsa(), signer: pssWith(seq(tlv(0xa5, int(1)))) }), /PSS parameters/],
  ];

  it.each(rows)('%s', (_what, make, why) => {
    expect(expectRefusal(make(), 'bad_csr').error.message).toMatch(why);
  });

  it('refuses a signature BIT STRING with unused bits', () => {
    const [info, alg] = partsOf(buildCsr());
    const sig = Uint8Array.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02]);
    // Zero padding bits pass the pre-walk; the library keeps no unused-bits count, so re-encoding differs.
    expect(expectRefusal(seq(info!, alg!, tlv(0x03, [1], sig)), 'bad_csr').error.message).toMatch(/not in DER/);
    expect(expectRefusal(seq(info!, alg!, tlv(0x03, [1], [...sig.subarray(0, -1), 0x03])), 'bad_csr').error.message).toMatch(/unused bits not zero/);
  });
});

describe('DER that parses but is not canonical, correctly signed (bad_csr)', () => {
  const rows: [string, CsrSpec, RegExp][] = [
    ['a version INTEGER with a leading zero octet', { version: tlv(0x02, [0, 0]) }, /INTEGER not minimally encoded/],
    ['version 2 (1)', { version: int(1) }, /version must be 1/],
    ['a critical flag encoded 01', { attributes: extensionRequest(seq(oid('2.5.29.19'), tlv(0x01, [1]), tlv(0x04, seq()))) }, /BOOLEAN not 00 or ff/],
    ['critical FALSE written out (DEFAULT)', { attributes: extensionRequest(ext('2.5.29.19', seq(), false)) }, /extensionRequest: not DER/],
    ['an OID with a padded sub-identifier', { subject: seq(tlv(0x31, seq(tlv(0x06, [0x55, 0x80, 0x04, 0x03]), tlv(0x0c, Buffer.from('x'))))) }, /OBJECT IDENTIFIER not minimally encoded/],
    ['an extra field after the attributes', { tamperInfo: (i) => seq(i.subarray(i[1]! & 0x80 ? 2 + (i[1]! & 0x7f) : 2), nul()) }, /CertificationRequestInfo: unexpected/],
    ['a SET where the subject SEQUENCE belongs', { subject: tlv(0x31) }, /not a PKCS#10|not a Name/],
    ['the attributes as a plain SEQUENCE', { attributes: seq() }, /unexpected field/],
    ['a public key BIT STRING with unused bits', { spki: seq(seq(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7')), tlv(0x03, [1, 0x04, 0x00])) }, /not in DER/],
    ['no attributes field at all', { attributes: null }, /attributes field is missing/],
  ];
  it.each(rows)('%s', (_what, spec, why) => {
    expect(expectRefusal(buildCsr(spec), 'bad_csr').error.message).toMatch(why);
  });

  it('accepts empty attributes and an empty extension request', () => {
    expect(parseCsr(buildCsr({ attributes: tlv(0xa0) })).requestedExtensions).toEqual([]);
    expect(parseCsr(buildCsr({ attributes: extensionRequest() })).requestedExtensions).toEqual([]);
  });
});
