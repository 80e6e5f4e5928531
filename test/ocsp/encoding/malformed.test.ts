// Everything that is not a well-formed DER OCSPRequest we can answer → OcspMalformed, and never any other exception.
import { Extension } from '@peculiar/asn1-x509';
import { OctetString } from '@peculiar/asn1-schema';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_CERT_IDS, OcspMalformed, parseOcspRequest } from '../../../ocsp/encoding/index.ts';
import { certId, fromHex, MD5, nonceExtension, request, SHA256, tlv } from './library.ts';
import { makePki, opensslRequest } from './pki.ts';

let seeds: Uint8Array[];
beforeAll(() => {
  const pki = makePki();
  seeds = [
    opensslRequest(pki, ['-cert', 'leaf.pem', '-cert', 'leaf2.pem', '-nonce'], 'two.der'),
    opensslRequest(pki, ['-sha256', '-cert', 'leaf.pem', '-no_nonce'], 'sha256.der'),
    opensslRequest(pki, ['-cert', 'leaf.pem', '-signer', 'ec-responder.pem', '-signkey', 'ec-responder.key', '-nonce'], 'signed.der'),
  ];
});

function expectMalformed(input: Uint8Array, detail?: RegExp): void {
  let thrown: unknown;
  try {
    parseOcspRequest(input);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(OcspMalformed);
  if (detail) expect((thrown as OcspMalformed).detail).toMatch(detail);
}

/** `depth` nested empty-bottomed TLVs: headers only, sized inside-out, written outside-in. */
function nested(depth: number, tag = 0x30): Uint8Array {
  const headers: number[][] = [];
  let length = 0;
  for (let i = 0; i < depth; i++) {
    const header = length < 0x80 ? [tag, length] : length < 0x100 ? [tag, 0x81, length] : length < 0x10000 ? [tag, 0x82, length >> 8, length & 0xff] : [tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff];
    headers.push(header);
    length += header.length;
  }
  return Uint8Array.from(headers.reverse().flat());
}

const ext = (extnID: string, critical: boolean, value: Uint8Array) => new Extension({ extnID, critical, extnValue: new OctetString(value) });
const valid = () => request({ certIds: [certId({ serial: '0a1f' })], extensions: [nonceExtension(new Uint8Array(16).fill(9))] });

describe('malformed requests', () => {
  const table: [string, () => Uint8Array, RegExp?][] = [
    ['empty', () => new Uint8Array(0), /missing/],
    ['one byte', () => Uint8Array.of(0x30), /truncated/],
    ['garbage', () => new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'), /unexpected tag/],
    ['an empty SEQUENCE', () => Uint8Array.of(0x30, 0x00), /TBSRequest: missing/],
    ['trailing bytes', () => Uint8Array.from([...valid(), 0x00]), /trailing/],
    ['trailing bytes inside OCSPRequest', () => { const v = valid(); return tlv(0x30, v.subarray(2), Uint8Array.of(5, 0)); }, /OCSPRequest/],
    ['indefinite length', () => { const v = valid(); return Uint8Array.from([0x30, 0x80, ...v.subarray(2), 0, 0]); }, /indefinite/],
    ['non-minimal length', () => { const v = valid(); return Uint8Array.from([0x30, 0x81, v[1]!, ...v.subarray(2)]); }, /not minimal/],
    ['length with a leading zero octet', () => { const v = valid(); return Uint8Array.from([0x30, 0x82, 0x00, v[1]!, ...v.subarray(2)]); }, /not minimal/],
    ['huge declared length (4 octets)', () => Uint8Array.of(0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00), /truncated/],
    ['huge declared length (5 octets)', () => Uint8Array.of(0x30, 0x85, 0x01, 0, 0, 0, 0, 0x30), /too large/],
    ['huge inner length', () => tlv(0x30, Uint8Array.of(0x30, 0x84, 0x7f, 0xff, 0xff, 0xff)), /truncated/],
    ['multi-byte tag', () => Uint8Array.of(0x3f, 0x81, 0x01, 0x00), /unexpected tag/],
    ['multi-byte tag as requestorName', () => { const v = request(); return tlv(0x30, tlv(0x30, tlv(0xa1, Uint8Array.of(0x9f, 0x81, 0x01, 0x00)), v.subarray(4))); }, /multi-byte tag/],
    ['0 CertIDs', () => request({ certIds: [] }), /no CertID/],
    [`${MAX_CERT_IDS + 1} CertIDs`, () => request({ certIds: Array.from({ length: MAX_CERT_IDS + 1 }, () => certId()) }), /more than 10/],
    ['MD5 CertID', () => request({ certIds: [certId({ hash: MD5 })] }), /hash algorithm/],
    ['SHA-1 OID with SHA-256-sized hashes', () => request({ certIds: [certId({ nameHash: new Uint8Array(32), keyHash: new Uint8Array(32) })] }), /issuerNameHash/],
    ['SHA-256 with a 20-octet key hash', () => request({ certIds: [certId({ hash: SHA256, keyHash: new Uint8Array(20) })] }), /issuerKeyHash/],
    ['empty serial', () => request({ certIds: [certId({ serial: '' })] }), /empty INTEGER/],
    ['non-minimal serial', () => request({ certIds: [certId({ serial: '0001' })] }), /minimal/],
    ['non-minimal negative serial', () => request({ certIds: [certId({ serial: 'ff80' })] }), /minimal/],
    ['nonce of 0 octets', () => request({ extensions: [nonceExtension(new Uint8Array(0))] }), /nonce: empty/],
    ['nonce of 129 octets', () => request({ extensions: [nonceExtension(new Uint8Array(129))] }), /nonce: over 128/],
    ['nonce twice', () => request({ extensions: [nonceExtension(Uint8Array.of(1)), nonceExtension(Uint8Array.of(2))] }), /two nonces/],
    ['critical legacy (raw) nonce', () => request({ extensions: [ext('1.3.6.1.5.5.7.48.1.2', true, fromHex('a1b2c3d4'))] }), /nonce/],
    ['nonce with trailing data in extnValue, critical', () => request({ extensions: [ext('1.3.6.1.5.5.7.48.1.2', true, fromHex('0401aa00'))] }), /nonce/],
    ['critical unknown request extension', () => request({ extensions: [ext('1.2.3.4', true, fromHex('0500'))] }), /unsupported critical extension/],
    ['critical unknown single request extension', () => request({ singleExtensions: [ext('1.2.3.4', true, fromHex('0500'))] }), /singleRequestExtensions: unsupported critical/],
    ['empty request extensions', () => { const v = request(); return tlv(0x30, tlv(0x30, fromHex(Buffer.from(v.subarray(4)).toString('hex')), fromHex('a2023000'))); }, /empty/],
    ['version v2', () => request({ version: 1 }), /unsupported version/],
    ['hash parameters that are not NULL', () => request({ certIds: [certId()] }).map((b, i, a) => (a[i - 1] === 0x1a && b === 0x05 ? 0x04 : b)), /parameters/],
    ['constructed OCTET STRING (BER)', () => request().map((b, i, a) => (a[i + 1] === 0x14 && b === 0x04 ? 0x24 : b)), /unexpected tag/],
    ['10,000 nested SEQUENCEs', () => nested(10_000)],
    ['10,000 nested SEQUENCEs as requestorName', () => { const v = request(); return tlv(0x30, tlv(0x30, tlv(0xa1, nested(10_000)), v.subarray(4))); }, /requestorName/],
    ['10,000 nested [0] tags', () => nested(10_000, 0xa0)],
  ];

  it.each(table)('%s → OcspMalformed', (_, make, detail) => {
    expectMalformed(make(), detail);
  });

  it('a nesting bomb inside a non-critical extension is skipped, not descended into', () => {
    const parsed = parseOcspRequest(request({ extensions: [ext('1.2.3.4', false, nested(5_000))] }));
    expect(parsed.certIds).toHaveLength(1);
  });

  it('every truncation of valid requests', () => {
    for (const seed of seeds) {
      expect(parseOcspRequest(seed).certIds.length).toBeGreaterThan(0);
      for (let n = 0; n < seed.length; n++) expectMalformed(seed.subarray(0, n));
    }
  });

  it('the detail never echoes input bytes', () => {
    const marker = Uint8Array.from(Buffer.from('SECRET-MARKER'));
    for (const input of [marker, tlv(0x30, marker), request({ extensions: [ext('1.2.3.4', true, marker)] })]) {
      try {
        parseOcspRequest(input);
      } catch (e) {
        expect((e as Error).message).not.toMatch(/SECRET|5345/i);
      }
    }
  });

  it('fuzz: 20,000 mutations of valid requests and 5,000 random inputs throw only OcspMalformed', () => {
    // A seeded xorshift so a failure reproduces.
    let state = 0x9e3779b9;
    const rand = (n: number) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    let parsed = 0;
    let malformed = 0;
    const attempt = (input: Uint8Array) => {
      try {
        const r = parseOcspRequest(input);
        expect(r.certIds.length).toBeGreaterThan(0);
        expect(r.certIds.length).toBeLessThanOrEqual(MAX_CERT_IDS);
        parsed++;
      } catch (e) {
        if (!(e instanceof OcspMalformed)) throw new Error(`non-OcspMalformed on input ${Buffer.from(input).toString('hex')}: ${String(e)}`);
        malformed++;
      }
    };
    for (let i = 0; i < 20_000; i++) {
      const seed = seeds[i % seeds.length]!;
      let bytes = Uint8Array.from(seed);
      for (let m = 1 + rand(3); m > 0; m--) {
        const at = rand(bytes.length);
        switch (rand(6)) {
          case 0:
            bytes[at]! ^= 1 << rand(8);
            break;
          case 1:
            bytes[at] = rand(256);
            break;
          case 2:
            bytes[at] = [0x00, 0x30, 0x04, 0x80, 0x81, 0x84, 0xff, 0x7f, 0xa0, 0xa2][rand(10)]!;
            break;
          case 3:
            bytes = Uint8Array.from([...bytes.subarray(0, at), rand(256), ...bytes.subarray(at)]);
            break;
          case 4:
            bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1)]);
            break;
          default:
            bytes = bytes.subarray(0, at);
        }
      }
      attempt(bytes);
    }
    for (let i = 0; i < 5_000; i++) {
      const input = Uint8Array.from({ length: rand(200) }, () => rand(256));
      if (i % 2) input[0] = 0x30;
      attempt(input);
    }
    expect(parsed + malformed).toBe(25_000);
    expect(parsed).toBeGreaterThan(0); // the mutations also reach the success path
  });
});
