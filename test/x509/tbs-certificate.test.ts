// The TBSCertificate builder: v3, times per RFC 5280 §4.1.2.5, the subject key carried byte for byte.
import { describe, expect, it } from 'vitest';
import { children, readSingleTlv } from '../../ca/x509/der.ts';
import { buildName, buildTbsCertificate, parseTbsCertificate, subjectKeyIdentifier, x509Time, X509Error, type TbsCertificateSpec } from '../../ca/x509/index.ts';
import { SoftwareSigner } from '../support/software-signer.ts';
import { fromHex, hex } from './der-surgery.ts';

const signer = SoftwareSigner.generate('ec-p256');

function spec(overrides: Partial<TbsCertificateSpec> = {}): TbsCertificateSpec {
  const name = buildName({ CN: 'Builder Test' });
  return {
    serial: fromHex('01020304050607080a'),
    issuer: name,
    subject: name,
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2027-01-01T00:00:00Z'),
    spki: signer.spki,
    signatureAlgorithm: 'ecdsa-sha256',
    extensions: [subjectKeyIdentifier(signer.spki)],
    ...overrides,
  };
}

/** The validity's two Time TLVs: [tag, contents as text]. */
function validity(der: Uint8Array): [number, string][] {
  const fields = children(readSingleTlv(der));
  return children(fields[4]!).map((t) => [t.tag, Buffer.from(t.content).toString('ascii')]);
}

describe('buildTbsCertificate', () => {
  it('writes version 3, the serial and the algorithm as given', () => {
    const { der } = buildTbsCertificate(spec());
    const fields = children(readSingleTlv(der));
    expect(hex(fields[0]!.bytes)).toBe('a003020102');
    expect(hex(fields[1]!.bytes)).toBe('020901020304050607080a');
    expect(hex(fields[2]!.bytes)).toBe('300a06082a8648ce3d040302');
  });

  it('UTCTime through 2049, GeneralizedTime from 2050, whole seconds', () => {
    const { der } = buildTbsCertificate(spec({ notBefore: new Date('2049-12-31T23:59:59.999Z'), notAfter: new Date('2050-01-01T00:00:00.500Z') }));
    expect(validity(der)).toEqual([
      [0x17, '491231235959Z'],
      [0x18, '20500101000000Z'],
    ]);
  });

  it('refuses dates outside what X.509 times can say', () => {
    expect(() => x509Time(new Date('1949-12-31T23:59:59Z'))).toThrow(X509Error);
    expect(() => x509Time(new Date('invalid'))).toThrow(X509Error);
    expect(x509Time(new Date('9999-12-31T23:59:59Z')).generalTime).toBeDefined();
  });

  it('carries the subject public key byte for byte, and refuses one that is not DER', () => {
    const { der } = buildTbsCertificate(spec());
    expect(hex(children(readSingleTlv(der))[6]!.bytes)).toBe(hex(signer.spki));
    // The same SPKI with its length written in long form: BER, not DER.
    const ber = Uint8Array.from([0x30, 0x81, signer.spki[1]!, ...signer.spki.subarray(2)]);
    expect(() => buildTbsCertificate(spec({ spki: ber }))).toThrow(X509Error);
  });

  it('refuses a serial that is not a minimal INTEGER', () => {
    expect(() => buildTbsCertificate(spec({ serial: fromHex('0001') }))).toThrow(/minimal/);
  });

  it('parses back to the same bytes', () => {
    const { der } = buildTbsCertificate(spec());
    expect(parseTbsCertificate(der).serialNumber.byteLength).toBe(9);
    expect(() => parseTbsCertificate(der.subarray(0, 20))).toThrow(X509Error);
  });
});
