// parseOcspRequest on what openssl sends, cross-checked with @peculiar/asn1-ocsp's parser and issuerHashes().
import { OCSPRequest, Signature } from '@peculiar/asn1-ocsp';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Extension } from '@peculiar/asn1-x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { issuerHashes, MAX_CERT_IDS, parseOcspRequest } from '../../../ocsp/encoding/index.ts';
import { certId, der, fromHex, hex, nonceExtension, request, SHA256 } from './library.ts';
import { makePki, opensslRequest, type Pki } from './pki.ts';

let pki: Pki;
beforeAll(() => {
  pki = makePki();
});

describe('requests made by openssl', () => {
  it('one SHA-1 CertID, no nonce: serial and hashes match the issuer', () => {
    const der = opensslRequest(pki, ['-cert', 'leaf.pem', '-no_nonce']);
    const parsed = parseOcspRequest(der);
    const hashes = issuerHashes(pki.caDer);
    expect(parsed.signed).toBe(false);
    expect(parsed.nonce).toBeUndefined();
    expect(parsed.certIds).toHaveLength(1);
    const [id] = parsed.certIds;
    expect(id!.hashAlgorithm).toBe('sha1');
    expect(id!.serial).toBe(pki.leaves.leaf.serial);
    expect(hex(id!.issuerNameHash)).toBe(hex(hashes.sha1.name));
    expect(hex(id!.issuerKeyHash)).toBe(hex(hashes.sha1.key));

    // The library agrees on every field, and `der` is the CertID exactly as sent.
    const lib = AsnConvert.parse(der, OCSPRequest);
    const libId = lib.tbsRequest.requestList[0]!.reqCert;
    expect(hex(id!.der)).toBe(hex(new Uint8Array(AsnConvert.serialize(libId))));
    expect(hex(new Uint8Array(libId.serialNumber))).toBe(`00${pki.leaves.leaf.serial}`);
  });

  it('two CertIDs with a nonce: the nonce is the inner OCTET STRING, exactly as openssl sent it', () => {
    const der = opensslRequest(pki, ['-cert', 'leaf.pem', '-cert', 'leaf2.pem', '-nonce']);
    const parsed = parseOcspRequest(der);
    expect(parsed.certIds.map((c) => c.serial)).toEqual([pki.leaves.leaf.serial, pki.leaves.leaf2.serial]);
    const lib = AsnConvert.parse(der, OCSPRequest);
    const ext = lib.tbsRequest.requestExtensions![0]!;
    expect(ext.extnID).toBe('1.3.6.1.5.5.7.48.1.2');
    // extnValue = OCTET STRING { OCTET STRING nonce }
    expect(`0410${hex(parsed.nonce!)}`).toBe(hex(new Uint8Array(ext.extnValue.buffer)));
    expect(parsed.nonce).toHaveLength(16);
  });

  it('the SHA-256 form (-sha256 before -cert)', () => {
    const der = opensslRequest(pki, ['-sha256', '-cert', 'leaf2.pem', '-no_nonce']);
    const [id] = parseOcspRequest(der).certIds;
    const hashes = issuerHashes(pki.caDer);
    expect(id!.hashAlgorithm).toBe('sha256');
    expect(id!.serial).toBe(pki.leaves.leaf2.serial);
    expect(hex(id!.issuerNameHash)).toBe(hex(hashes.sha256.name));
    expect(hex(id!.issuerKeyHash)).toBe(hex(hashes.sha256.key));
  });

  it('a signed request parses (the signature is ignored)', () => {
    const der = opensslRequest(pki, ['-cert', 'leaf.pem', '-signer', 'ec-responder.pem', '-signkey', 'ec-responder.key', '-no_nonce']);
    const parsed = parseOcspRequest(der);
    expect(parsed.signed).toBe(true);
    expect(parsed.certIds[0]!.serial).toBe(pki.leaves.leaf.serial);
  });
});

describe('request edge cases that parse', () => {
  it.each([
    ['01', '1'],
    ['0f', 'f'],
    ['7f', '7f'],
    ['0080', '80'],
    ['00ff', 'ff'],
    ['0100', '100'],
    [`7f${'ff'.repeat(19)}`, `7f${'ff'.repeat(19)}`],
    [`00${'ff'.repeat(20)}`, 'ff'.repeat(20)],
  ])('serial contents %s → %s', (contents, serial) => {
    expect(parseOcspRequest(request({ certIds: [certId({ serial: contents })] })).certIds[0]!.serial).toBe(serial);
  });

  it.each([
    ['zero', '00'],
    ['negative', '80'],
    ['negative, long', 'ff7f'],
    ['21 octets', `01${'00'.repeat(20)}`],
    ['21 value octets with a sign octet', `00${'ff'.repeat(21)}`],
  ])('a %s serial parses with serial = "" (the responder answers unknown)', (_, contents) => {
    expect(parseOcspRequest(request({ certIds: [certId({ serial: contents })] })).certIds[0]!.serial).toBe('');
  });

  it(`${MAX_CERT_IDS} CertIDs, mixed hash algorithms, absent hash parameters`, () => {
    const ids = Array.from({ length: MAX_CERT_IDS }, (_, i) => certId({ serial: (i + 1).toString(16).padStart(2, '0'), hash: i % 2 ? SHA256 : undefined, nullParams: i % 3 !== 0 }));
    const parsed = parseOcspRequest(request({ certIds: ids }));
    expect(parsed.certIds.map((c) => c.serial)).toEqual(ids.map((_, i) => (i + 1).toString(16)));
    expect(parsed.certIds.map((c) => c.hashAlgorithm)).toEqual(ids.map((_, i) => (i % 2 ? 'sha256' : 'sha1')));
    parsed.certIds.forEach((c, i) => expect(hex(c.der)).toBe(hex(der(ids[i]))));
  });

  it('nonces of 1 and 128 octets', () => {
    for (const n of [1, 32, 128]) {
      const nonce = Uint8Array.from({ length: n }, (_, i) => i);
      expect(parseOcspRequest(request({ extensions: [nonceExtension(nonce)] })).nonce).toEqual(nonce);
    }
  });

  it('unknown non-critical extensions are ignored, in the request and per CertID; critical Acceptable Responses is understood', () => {
    const unknown = new Extension({ extnID: '1.2.3.4', critical: false, extnValue: new OctetString(Uint8Array.of(5, 0)) });
    const acceptable = new Extension({ extnID: '1.3.6.1.5.5.7.48.1.4', critical: true, extnValue: new OctetString(fromHex('300b06092b0601050507300101')) });
    const parsed = parseOcspRequest(request({ extensions: [unknown, acceptable, nonceExtension(Uint8Array.of(7))], singleExtensions: [unknown] }));
    expect(parsed.nonce).toEqual(Uint8Array.of(7));
  });

  it('a legacy raw nonce (not an OCTET STRING) is ignored when non-critical', () => {
    const raw = new Extension({ extnID: '1.3.6.1.5.5.7.48.1.2', extnValue: new OctetString(fromHex('a1b2c3d4e5f60718')) });
    expect(parseOcspRequest(request({ extensions: [raw] })).nonce).toBeUndefined();
  });

  it('an explicitly encoded v1 is tolerated', () => {
    expect(parseOcspRequest(request({ version: 0 })).certIds).toHaveLength(1);
  });

  it('a signature built by the library (with certs) is accepted as ignored', () => {
    const signature = new Signature({ signatureAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' }), signature: new Uint8Array(8).buffer });
    expect(parseOcspRequest(request({ signature })).signed).toBe(true);
  });
});
