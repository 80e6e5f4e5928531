// Subject and subjectAltName as requested, structural smuggling refused (bad_name), and the extension request.
import { describe, expect, it } from 'vitest';
import { parseCsr } from '../../ca/csr/index.ts';
import { ipText } from '../../ca/csr/names.ts';
import { buildCsr, bytes, cnName, expectRefusal, ext, extensionRequest, gn, ia5, int, name, nul, oid, OID, printable, san, seq, set, tlv, utf8 } from './support.ts';

const withNames = (...names: Uint8Array[]) => buildCsr({ attributes: extensionRequest(san(...names)) });
const withExts = (...exts: Uint8Array[]) => buildCsr({ attributes: extensionRequest(...exts) });

describe('requested names', () => {
  it('sorts the subjectAltName by kind, IPs in canonical text, other forms listed by kind', () => {
    const csr = parseCsr(
      withNames(
        gn.dns('svc.example'),
        gn.dns('*.svc.example'),
        gn.ip([10, 1, 2, 3]),
        gn.ip([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        gn.ip([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]),
        gn.uri('spiffe://svc.example/ns/a'),
        gn.email('ops@svc.example'),
        gn.otherName('1.3.6.1.4.1.311.20.2.3', utf8('ops@svc.example')),
        gn.directoryName(cnName('svc.example')),
        gn.registeredId('1.2.3.4'),
      ),
    );
    expect(csr.requested).toEqual({
      dns: ['svc.example', '*.svc.example'],
      ip: ['10.1.2.3', '2001:db8::1', '::ffff:a00:1'],
      uri: ['spiffe://svc.example/ns/a'],
      email: ['ops@svc.example'],
      other: ['otherName:1.3.6.1.4.1.311.20.2.3', 'directoryName', 'registeredID:1.2.3.4'],
    });
  });

  it('passes what only policy can judge (wildcards, trailing dots, commas, uppercase) through untouched', () => {
    const odd = ['*.*.svc.example', '*', 'svc.example.', 'a.svc.example,DNS:evil.example', 'SVC.Example'];
    expect(parseCsr(withNames(...odd.map((d) => gn.dns(d)))).requested.dns).toEqual(odd);
  });

  it('reads the subject in order, with short names, multi-valued RDNs flattened, several string types', () => {
    const subject = seq(
      set(seq(oid('0.9.2342.19200300.100.1.25'), ia5('example'))),
      set(seq(oid(OID.c), printable('DE'))),
      set(seq(oid(OID.o), tlv(0x1e, Buffer.from('\u00d6ko GmbH', 'utf16le').swap16()))),
      set(seq(oid('2.5.4.11'), utf8('Ops')), seq(oid('2.5.4.11'), tlv(0x14, [0x4d, 0xfc, 0x6e]))),
      set(seq(oid('1.2.3.4.5'), utf8('custom'))),
      set(seq(oid(OID.cn), utf8('svc.example'))),
    );
    const csr = parseCsr(buildCsr({ subject }));
    expect(csr.subject).toEqual([['DC', 'example'], ['C', 'DE'], ['O', 'Öko GmbH'], ['OU', 'Ops'], ['OU', 'Mün'], ['1.2.3.4.5', 'custom'], ['CN', 'svc.example']]);
    expect(csr.cn).toBe('svc.example');
    expect(csr.subjectDer).toEqual(subject);
  });

  it('formats IPv6 per RFC 5952, like the WHATWG URL serializer', () => {
    const cases: number[][] = [
      new Array(16).fill(0),
      [...new Array(15).fill(0), 1],
      [0xfe, 0x80, ...new Array(12).fill(0), 0xab, 0xcd],
      [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
      [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
      [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
      [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6],
      [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 3, 0, 4, 0, 0, 0, 6],
      [0, 0, 0, 1, ...new Array(12).fill(0)],
    ];
    for (const c of cases) {
      const hex = Buffer.from(c).toString('hex').match(/.{4}/g)!.join(':');
      expect(ipText(Uint8Array.from(c))).toBe(new URL(`http://[${hex}]/`).hostname.slice(1, -1));
    }
  });
});

describe('structurally smuggled names (bad_name)', () => {
  const rows: [string, () => Uint8Array, RegExp][] = [
    ['a dNSName with an embedded NUL', () => withNames(gn.dns('svc.example\0.evil.example')), /entry #1 \(dNSName\): contains a NUL/],
    ['a dNSName with a trailing NUL', () => withNames(gn.dns('svc.example'), gn.dns('evil.example\0')), /entry #2 \(dNSName\): contains a NUL/],
    ['a dNSName with raw UTF-8', () => withNames(gn.dns(Buffer.from('bücher.svc.example', 'utf8'))), /raw non-ASCII/],
    ['a dNSName with a Latin-1 byte', () => withNames(gn.dns(bytes('b\xfccher.svc.example'))), /raw non-ASCII/],
    ['a dNSName with a newline', () => withNames(gn.dns('svc.example\nDNS:evil.example')), /control character/],
    ['a dNSName with DEL', () => withNames(gn.dns('svc.example\x7f')), /control character/],
    ['an empty dNSName', () => withNames(gn.dns('')), /empty/],
    ['an rfc822Name with a NUL', () => withNames(gn.email('ops@svc.example\0@evil.example')), /rfc822Name\): contains a NUL/],
    ['an rfc822Name with raw UTF-8', () => withNames(gn.email(Buffer.from('öps@svc.example', 'utf8'))), /rfc822Name\): byte outside IA5/],
    ['a URI with a NUL', () => withNames(gn.uri('https://svc.example\0.evil.example/')), /uniformResourceIdentifier\): contains a NUL/],
    ['a URI with raw UTF-8', () => withNames(gn.uri(Buffer.from('https://svc.example/ä', 'utf8'))), /uniformResourceIdentifier\): byte outside IA5/],
    ['an iPAddress of 3 octets', () => withNames(gn.ip([10, 1, 2])), /3 octets, expected 4/],
    ['an iPAddress of 5 octets', () => withNames(gn.ip([10, 1, 2, 3, 4])), /5 octets/],
    ['an iPAddress of 8 octets (a name-constraint range)', () => withNames(gn.ip([10, 0, 0, 0, 255, 0, 0, 0])), /8 octets/],
    ['an iPAddress of 32 octets', () => withNames(gn.ip(new Array(32).fill(1))), /32 octets/],
    ['an empty iPAddress', () => withNames(gn.ip([])), /0 octets/],
    ['a subject CN with a NUL', () => buildCsr({ subject: cnName('svc.example\0evil.example') }), /subject CN #1: contains a NUL/],
    ['a subject CN with a C1 control', () => buildCsr({ subject: cnName('svc.example\u0085') }), /control character/],
    ['a subject with two CNs', () => buildCsr({ subject: name([OID.cn, utf8('svc.example')], [OID.cn, utf8('evil.example')]) }), /more than one CN/],
    ['a subject UTF8String that is not UTF-8', () => buildCsr({ subject: name([OID.cn, utf8(Uint8Array.from([0x65, 0x76, 0xc0, 0xaf, 0x6c]))]) }), /invalid UTF-8/],
    ['a subject UTF8String with an overlong NUL', () => buildCsr({ subject: name([OID.cn, utf8(Uint8Array.from([0x61, 0xc0, 0x80, 0x62]))]) }), /invalid UTF-8/],
    ['a PrintableString with @', () => buildCsr({ subject: name([OID.o, printable('evil@example')]) }), /outside PrintableString/],
    ['an IA5String subject value with a high byte', () => buildCsr({ subject: name(['0.9.2342.19200300.100.1.25', ia5(bytes('ev\xefl'))]) }), /non-ASCII/],
    ['a BMPString with a lone surrogate', () => buildCsr({ subject: name([OID.cn, tlv(0x1e, [0xd8, 0x00, 0x00, 0x41])]) }), /invalid character/],
    ['a BMPString of odd length', () => buildCsr({ subject: name([OID.cn, tlv(0x1e, [0x00, 0x41, 0x00])]) }), /truncated BMPString/],
    ['a subject value that is not a string', () => buildCsr({ subject: name([OID.cn, int(7)]) }), /not a string type/],
    ['an empty subject value', () => buildCsr({ subject: name([OID.cn, utf8('')]) }), /empty/],
    ['a directoryName SAN with a NUL in its CN', () => withNames(gn.directoryName(cnName('svc.example\0'))), /contains a NUL/],
  ];
  it.each(rows)('%s', (_what, make, why) => {
    expect(expectRefusal(make(), 'bad_name').error.message).toMatch(why);
  });
});

describe('the extension request', () => {
  it('records CA:TRUE, keyCertSign and name constraints — certificate content is the profile’s business', () => {
    const csr = parseCsr(
      withExts(
        ext('2.5.29.19', seq(bool(true)), true),
        ext('2.5.29.15', tlv(0x03, [0x02, 0x04]), true), // keyCertSign
        ext('2.5.29.30', seq(tlv(0xa0, seq(gn.dns('.svc.example')))), true),
        ext('1.3.6.1.4.1.99999.7', nul()),
        san(gn.dns('svc.example')),
      ),
    );
    expect(csr.requestedExtensions).toEqual([
      { oid: '2.5.29.19', name: 'basicConstraints', critical: true },
      { oid: '2.5.29.15', name: 'keyUsage', critical: true },
      { oid: '2.5.29.30', name: 'nameConstraints', critical: true },
      { oid: '1.3.6.1.4.1.99999.7', critical: false },
      { oid: '2.5.29.17', name: 'subjectAltName', critical: false },
    ]);
    expect(csr.requested.dns).toEqual(['svc.example']);
  });

  it('records a critical extension that is known (TLS feature) and other attributes', () => {
    const csr = parseCsr(
      buildCsr({
        attributes: tlv(
          0xa0,
          seq(oid(OID.challengePassword), set(utf8('s3cret'))),
          seq(oid(OID.extensionRequest), set(seq(ext('1.3.6.1.5.5.7.1.24', seq(int(5)), true)))),
        ),
      }),
    );
    expect(csr.requestedExtensions).toEqual([{ oid: '1.3.6.1.5.5.7.1.24', name: 'tlsFeature', critical: true }]);
    expect(csr.otherAttributes).toEqual([OID.challengePassword]);
  });

  const rows: [string, () => Uint8Array, RegExp][] = [
    ['an unknown critical extension', () => withExts(ext('1.3.6.1.4.1.99999.7', nul(), true)), /critical extension 1\.3\.6\.1\.4\.1\.99999\.7 is not one we know/],
    ['the same extension twice', () => withExts(san(gn.dns('svc.example')), san(gn.dns('evil.example'))), /2\.5\.29\.17 requested more than once/],
    ['two extension requests', () => buildCsr({ attributes: tlv(0xa0, seq(oid(OID.extensionRequest), set(seq(san(gn.dns('svc.example'))))), seq(oid(OID.extensionRequest), set(seq(san(gn.dns('evil.example')))))) }), /appears more than once/],
    ['an extension request with two values', () => buildCsr({ attributes: tlv(0xa0, seq(oid(OID.extensionRequest), set(seq(san(gn.dns('svc.example'))), seq(san(gn.dns('evil.example')))))) }), /extensionRequest: unexpected number/],
    ['an extension request that is not a list of extensions', () => buildCsr({ attributes: tlv(0xa0, seq(oid(OID.extensionRequest), set(int(1)))) }), /not a list of extensions/],
    ['an empty subjectAltName', () => withExts(ext(OID.san, seq())), /subjectAltName: empty/],
    ['a subjectAltName that is not a SEQUENCE', () => withExts(ext(OID.san, gn.dns('svc.example'))), /not a GeneralNames/],
    ['a subjectAltName entry with a universal tag', () => withExts(ext(OID.san, seq(utf8('svc.example')))), /not a GeneralName/],
    ['a constructed dNSName', () => withExts(ext(OID.san, seq(tlv(0xa2, ia5('svc.example'))))), /not a GeneralName/],
    ['a malformed otherName', () => withExts(ext(OID.san, seq(tlv(0xa0, oid('1.2.3'))))), /otherName/],
    ['a registeredID with a padded OID', () => withExts(ext(OID.san, seq(tlv(0x88, [0x2a, 0x80, 0x03])))), /registeredID\): malformed OBJECT IDENTIFIER/],
    ['a malformed basicConstraints', () => withExts(ext('2.5.29.19', seq(utf8('CA')))), /basicConstraints: malformed/],
    ['a basicConstraints writing out cA FALSE', () => withExts(ext('2.5.29.19', seq(bool(false)))), /basicConstraints: malformed or not DER/],
    ['an extension value with trailing bytes', () => withExts(ext('2.5.29.19', Uint8Array.from([...seq(), 0x00]))), /extension 2\.5\.29\.19: 1 trailing byte/],
    ['an extension value nested 100 deep', () => withExts(ext('1.3.6.1.4.1.99999.7', Array.from({ length: 100 }).reduce<Uint8Array>((d) => seq(d), nul()))), /nested deeper than 32/],
  ];
  it.each(rows)('refuses %s (bad_csr)', (_what, make, why) => {
    expect(expectRefusal(make(), 'bad_csr').error.message).toMatch(why);
  });
});

function bool(v: boolean) {
  return Uint8Array.from([0x01, 0x01, v ? 0xff : 0x00]);
}
