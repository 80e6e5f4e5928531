// The TBSCertificate builder: v3, times per RFC 5280 §4.1.2.5, the subject key carried byte for byte.
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Extension, Extensions, TBSCertificate, Validity, Version } from '@peculiar/asn1-x509';
import { describe, expect, it } from 'vitest';
import { algorithmIdentifier } from '../../ca/x509/algorithms.ts';
import { children, readSingleTlv } from '../../ca/x509/der.ts';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  buildName,
  buildTbsCertificate,
  certificatePolicies,
  crlDistributionPoints,
  extKeyUsage,
  issuerInfo,
  issuerName,
  keyUsage,
  nameConstraints,
  parseSpki,
  parseTbsCertificate,
  subjectAltName,
  subjectKeyIdentifier,
  x509Time,
  X509Error,
  type TbsCertificateSpec,
} from '../../ca/x509/index.ts';
import { signOnce } from '../../ca/x509/sign-once.ts';
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

/** What the schema library writes for the same spec: the builder writes DER directly and must match it byte for byte. */
function schemaDer(s: TbsCertificateSpec): string {
  const validity = new Validity();
  validity.notBefore = x509Time(s.notBefore);
  validity.notAfter = x509Time(s.notAfter);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: Uint8Array.from(s.serial instanceof Uint8Array ? s.serial : s.serial.bytes).buffer,
    signature: algorithmIdentifier(s.signatureAlgorithm),
    issuer: s.issuer,
    validity,
    subject: s.subject,
    subjectPublicKeyInfo: parseSpki(s.spki).spki,
    ...(s.extensions.length ? { extensions: new Extensions([...s.extensions]) } : {}),
  });
  return hex(new Uint8Array(AsnConvert.serialize(tbs)));
}

describe('buildTbsCertificate', () => {
  it.each<[string, () => Promise<Partial<TbsCertificateSpec>>]>([
    ['one extension', async () => ({})],
    ['no extensions', async () => ({ extensions: [] })],
    ['an empty subject', async () => ({ subject: buildName({}), extensions: [subjectAltName({ dns: ['a.test'] }, { critical: true })] })],
    ['a long subject with every string type', async () => ({ subject: buildName({ C: 'DE', ST: 'Bayern', L: 'München', O: 'Strongroom Test', OU: 'Ops', CN: 'x'.repeat(64), DC: 'strongroom', serialNumber: '42' }) })],
    ['an RSA key, RSA-PSS, and a GeneralizedTime', async () => {
      const rsa = SoftwareSigner.generate('rsa-2048');
      return { spki: rsa.spki, signatureAlgorithm: 'rsa-pss-sha384', notAfter: new Date('2051-06-30T12:00:00Z') };
    }],
    ['every extension builder, critical and not', async () => {
      const root = SoftwareSigner.generate('ec-p384');
      const issuerSpec = spec({ spki: root.spki, signatureAlgorithm: 'ecdsa-sha384', extensions: [basicConstraints({ ca: true }), keyUsage(['keyCertSign', 'cRLSign']), subjectKeyIdentifier(root.spki)] });
      const issuerDer = await signOnce(buildTbsCertificate(issuerSpec).der, 'ecdsa-sha384', root, {});
      const info = issuerInfo(issuerDer);
      return {
        issuer: issuerName(info),
        signatureAlgorithm: 'ecdsa-sha384',
        serial: fromHex('7f' + 'ab'.repeat(19)),
        extensions: [
          basicConstraints({ ca: true, pathLen: 0 }),
          keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign']),
          extKeyUsage(['serverAuth', 'clientAuth']),
          subjectAltName({ dns: ['a.test', '*.b.test'], ip: ['10.0.0.1', '2001:db8::1'], uri: ['https://c.test/x'], email: ['d@e.test'] }, { wildcards: true }),
          subjectKeyIdentifier(signer.spki),
          authorityKeyIdentifier(info.keyIdentifier),
          crlDistributionPoints(['http://127.0.0.1:8080/crl/a.crl']),
          authorityInfoAccess({ ocsp: ['http://127.0.0.1:8080/ocsp'], caIssuers: ['http://127.0.0.1:8080/ca/a.crt'] }),
          nameConstraints({ permitted: { dns: ['strongroom.test'] } }),
          certificatePolicies(['1.3.6.1.4.1.99999.1.1']),
          new Extension({ extnID: '1.3.6.1.4.1.99999.42', extnValue: new OctetString(Uint8Array.from([0x05, 0x00])) }),
        ],
      };
    }],
  ])('writes what the schema library writes: %s', async (_, overrides) => {
    const s = spec(await overrides());
    expect(hex(buildTbsCertificate(s).der)).toBe(schemaDer(s));
  });


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
