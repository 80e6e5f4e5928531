// Extension builders: the DER they produce (checked against hand-written encodings), their default criticality,
// and what they refuse.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  certificatePolicies,
  crlDistributionPoints,
  extKeyUsage,
  keyIdentifier,
  keyUsage,
  nameConstraints,
  subjectAltName,
  subjectKeyIdentifier,
  X509Error,
} from '../../ca/x509/index.ts';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, SubjectAlternativeName, type Extension } from '@peculiar/asn1-x509';
import { SoftwareSigner } from '../support/software-signer.ts';
import { hex } from './der-surgery.ts';

const value = (e: Extension) => hex(e.extnValue.buffer);
const ascii = (s: string) => Buffer.from(s, 'ascii').toString('hex');
const len = (s: string) => (s.length / 2).toString(16).padStart(2, '0');

describe('basicConstraints and keyUsage', () => {
  it.each([
    [{ ca: true, pathLen: 0 }, '30060101ff020100'],
    [{ ca: true }, '30030101ff'],
    [{ ca: false }, '3000'], // cA FALSE is the DEFAULT: left out
  ])('basicConstraints(%j) → %s, critical', (args, der) => {
    const e = basicConstraints(args);
    expect(value(e)).toBe(der);
    expect(e.critical).toBe(true);
  });

  it('refuses pathLen without cA, or out of range', () => {
    expect(() => basicConstraints({ ca: false, pathLen: 0 })).toThrow(X509Error);
    expect(() => basicConstraints({ ca: true, pathLen: -1 })).toThrow(X509Error);
    expect(() => basicConstraints({ ca: true, pathLen: 1.5 })).toThrow(X509Error);
  });

  it.each([
    [['keyCertSign', 'cRLSign'], '03020106'],
    [['digitalSignature'], '03020780'],
    [['digitalSignature', 'keyCertSign', 'cRLSign'], '03020186'],
    [['digitalSignature', 'keyEncipherment'], '030205a0'],
    [['decipherOnly'], '0303070080'],
  ] as const)('keyUsage(%j) → %s (trailing zero bits dropped), critical', (usages, der) => {
    const e = keyUsage(usages);
    expect(value(e)).toBe(der);
    expect(e.critical).toBe(true);
  });

  it('refuses an empty or unknown keyUsage', () => {
    expect(() => keyUsage([])).toThrow(X509Error);
    expect(() => keyUsage(['signEverything' as never])).toThrow(X509Error);
  });
});

describe('key identifiers', () => {
  it('SKI method 1 for RSA: SHA-1 of the PKCS#1 RSAPublicKey (the BIT STRING contents)', () => {
    const s = SoftwareSigner.generate('rsa-2048');
    const expected = createHash('sha1').update(s.publicKey.export({ format: 'der', type: 'pkcs1' })).digest('hex');
    expect(hex(keyIdentifier(s.spki))).toBe(expected);
    expect(value(subjectKeyIdentifier(s.spki))).toBe(`0414${expected}`);
    expect(subjectKeyIdentifier(s.spki).critical).toBe(false);
  });

  it('SKI method 1 for EC: SHA-1 of the uncompressed point', () => {
    const s = SoftwareSigner.generate('ec-p384');
    const jwk = s.publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    expect(hex(keyIdentifier(s.spki))).toBe(createHash('sha1').update(point).digest('hex'));
  });

  it('AKI carries the keyIdentifier only, non-critical', () => {
    const id = Buffer.alloc(20, 0xab);
    const e = authorityKeyIdentifier(id);
    expect(value(e)).toBe(`30168014${'ab'.repeat(20)}`);
    expect(e.critical).toBe(false);
    expect(() => authorityKeyIdentifier(new Uint8Array(0))).toThrow(X509Error);
  });
});

describe('URIs: CRL distribution points and authority information access', () => {
  it('one distribution point with the URIs as its full name', () => {
    const uri = 'http://crl.strongroom.test/root.crl';
    const gn = `86${len(ascii(uri))}${ascii(uri)}`;
    const fullName = `a0${len(gn)}${gn}`;
    const dpName = `a0${len(fullName)}${fullName}`;
    const dp = `30${len(dpName)}${dpName}`;
    expect(value(crlDistributionPoints([uri]))).toBe(`30${len(dp)}${dp}`);
  });

  it('AIA lists OCSP then caIssuers', () => {
    const e = authorityInfoAccess({ caIssuers: ['http://pki.test/ca.cer'], ocsp: ['http://ocsp.test/'] });
    const v = value(e);
    expect(v.indexOf('06082b06010505073001')).toBeGreaterThan(0); // id-ad-ocsp
    expect(v.indexOf('06082b06010505073002')).toBeGreaterThan(v.indexOf('06082b06010505073001')); // id-ad-caIssuers after
    expect(v).toContain(ascii('http://ocsp.test/'));
    expect(e.critical).toBe(false);
  });

  it.each([
    ['https (fetching it over TLS could loop)', () => crlDistributionPoints(['https://crl.test/x.crl'])],
    ['ldap', () => authorityInfoAccess({ ocsp: ['ldap://x.test/'] })],
    ['not a URI', () => crlDistributionPoints(['crl.test/x.crl'])],
    ['non-ASCII', () => crlDistributionPoints(['http://crl.tést/x.crl'])],
    ['a space', () => crlDistributionPoints(['http://crl.test/a b.crl'])],
    ['no URIs', () => crlDistributionPoints([])],
    ['duplicates', () => crlDistributionPoints(['http://a.test/', 'http://a.test/'])],
    ['an empty AIA', () => authorityInfoAccess({})],
  ])('refuses %s', (_what, build) => {
    expect(build).toThrow(X509Error);
  });
});

describe('nameConstraints', () => {
  it('encodes DNS, IPv4 and IPv6 ranges and email domains, critical', () => {
    const e = nameConstraints({ permitted: { dns: ['strongroom.test'], ip: ['10.0.0.0/8', '2001:db8::/32'], email: ['.strongroom.test'] }, excluded: { dns: ['bad.strongroom.test'] } });
    const v = value(e);
    expect(e.critical).toBe(true);
    expect(v).toContain(`82${len(ascii('strongroom.test'))}${ascii('strongroom.test')}`);
    expect(v).toContain('87080a000000ff000000');
    expect(v).toContain(`872020010db8${'00'.repeat(12)}ffffffff${'00'.repeat(12)}`);
    expect(v).toContain(`81${len(ascii('.strongroom.test'))}${ascii('.strongroom.test')}`);
    expect(v).toMatch(/^30[0-9a-f]{2}a0/); // permitted [0] first
    expect(v).toContain(`a11730158213${ascii('bad.strongroom.test')}`); // excluded [1]
  });

  it.each([
    [{}],
    [{ permitted: {} }],
    [{ permitted: { ip: ['10.0.0.1/8'] } }], // host bits set
    [{ permitted: { ip: ['10.0.0.0/33'] } }],
    [{ permitted: { ip: ['10.0.0.0'] } }],
    [{ permitted: { dns: ['.strongroom.test'] } }], // dNSName constraints take no leading dot
    [{ permitted: { dns: ['*.strongroom.test'] } }],
  ])('refuses %j', (args) => {
    expect(() => nameConstraints(args)).toThrow(X509Error);
  });
});

describe('subjectAltName, certificatePolicies, extKeyUsage', () => {
  it('encodes each name type', () => {
    const v = value(subjectAltName({ dns: ['a.strongroom.test'], ip: ['192.0.2.1', '2001:db8::1', '::ffff:192.0.2.7'], uri: ['spiffe://strongroom.test/svc'], email: ['ops@strongroom.test'] }));
    expect(v).toContain(`8211${ascii('a.strongroom.test')}`);
    expect(v).toContain('8704c0000201');
    expect(v).toContain(`871020010db8${'00'.repeat(11)}01`);
    expect(v).toContain(`8710${'00'.repeat(10)}ffffc0000207`);
    expect(v).toContain(`861c${ascii('spiffe://strongroom.test/svc')}`);
    expect(v).toContain(`8113${ascii('ops@strongroom.test')}`);
  });

  it('writes what the schema library writes for the same names', () => {
    const dns = ['a.strongroom.test', ...Array.from({ length: 12 }, (_, i) => `host-${i}.svc.strongroom.test`)];
    const names = { dns, ip: ['192.0.2.1', '2001:db8::1'], uri: ['https://strongroom.test/a?b=c#d', 'spiffe://strongroom.test/svc'], email: ['ops@strongroom.test'] };
    const library = new SubjectAlternativeName([
      ...dns.map((d) => new GeneralName({ dNSName: d })),
      new GeneralName({ iPAddress: '192.0.2.1' }),
      new GeneralName({ iPAddress: '2001:db8:0:0:0:0:0:1' }),
      ...names.uri.map((u) => new GeneralName({ uniformResourceIdentifier: u })),
      new GeneralName({ rfc822Name: 'ops@strongroom.test' }),
    ]);
    expect(value(subjectAltName(names))).toBe(hex(AsnConvert.serialize(library)));
  });

  it('is critical only when asked (an empty subject)', () => {
    expect(subjectAltName({ dns: ['x.test'] }).critical).toBe(false);
    expect(subjectAltName({ dns: ['x.test'] }, { critical: true }).critical).toBe(true);
  });

  it.each([
    [{}],
    [{ dns: ['UPPER.test'] }],
    [{ dns: ['*.wild.test'] }],
    [{ dns: ['-bad.test'] }],
    [{ dns: ['a..test'] }],
    [{ ip: ['010.0.0.1'] }],
    [{ ip: ['300.0.0.1'] }],
    [{ ip: ['fe80::1%eth0'] }],
    [{ email: ['no-at-sign'] }],
    [{ email: ['a b@x.test'] }],
    [{ dns: ['x.test', 'x.test'] }],
  ])('refuses %j', (names) => {
    expect(() => subjectAltName(names)).toThrow(X509Error);
  });

  it('allows a leading wildcard only when asked', () => {
    expect(value(subjectAltName({ dns: ['*.strongroom.test'] }, { wildcards: true }))).toContain(ascii('*.strongroom.test'));
  });

  it('policies by OID', () => {
    expect(value(certificatePolicies(['2.23.140.1.2.1']))).toBe('300a3008060667810c010201');
    expect(() => certificatePolicies(['2.23.140.01'])).toThrow(X509Error);
    expect(() => certificatePolicies([])).toThrow(X509Error);
  });

  it('purposes by name or OID, non-critical by default', () => {
    const e = extKeyUsage(['serverAuth', 'clientAuth']);
    expect(value(e)).toBe('301406082b0601050507030106082b06010505070302');
    expect(e.critical).toBe(false);
    expect(extKeyUsage(['timeStamping'], { critical: true }).critical).toBe(true);
    expect(value(extKeyUsage(['1.3.6.1.4.1.99999.7']))).toBe('300b06092b06010401868d1f07');
    expect(() => extKeyUsage(['serverAuth', '1.3.6.1.5.5.7.3.1'])).toThrow(/duplicate/);
    expect(() => extKeyUsage(['not.an.oid'])).toThrow(X509Error);
  });
});
