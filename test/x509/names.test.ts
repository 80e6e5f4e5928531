// Names: attribute order, string types per RFC 5280, refusals, the RFC 4514 text form.
import { AsnConvert } from '@peculiar/asn1-schema';
import { Name } from '@peculiar/asn1-x509';
import { describe, expect, it } from 'vitest';
import { buildName, isEmptyName, nameDer, namesEqual, nameToString, X509Error } from '../../ca/x509/index.ts';
import { children, readSingleTlv } from '../../ca/x509/der.ts';

/** [OID, string tag] for each RDN, read from the DER. */
function attributes(der: Uint8Array): [string, number][] {
  return children(readSingleTlv(der)).map((rdn) => {
    const [atv] = children(rdn);
    const [oid, value] = children(atv!);
    return [Buffer.from(oid!.bytes).toString('hex'), value!.tag];
  });
}

describe('buildName', () => {
  it.each([
    ['one CN', { CN: 'service.strongroom.test' }],
    ['every attribute type', { DC: 'strongroom', C: 'DE', ST: 'Bayern', L: 'München', street: 'Hauptstraße 1', O: 'Strongroom Test', OU: 'Ops', CN: 'x'.repeat(64), serialNumber: '42' }],
    ['multi-byte and four-byte UTF-8', { CN: 'Zürich 東京 😀' }],
    ['a value long enough for a two-octet length', { O: 'o'.repeat(64), OU: 'u'.repeat(64), CN: 'c'.repeat(64) }],
    ['empty', {}],
  ])('writes the DER the schema library writes: %s', (_, spec) => {
    const name = buildName(spec);
    // The library's encoding of an unsealed copy of the same object.
    const library = Buffer.from(AsnConvert.serialize(AsnConvert.parse(AsnConvert.serialize(new Name([...name])), Name))).toString('hex');
    expect(Buffer.from(nameDer(name)).toString('hex')).toBe(library);
  });

  it('writes named fields most significant first, one attribute per RDN', () => {
    const name = buildName({ CN: 'Root', O: 'Strongroom', C: 'DE', ST: 'Berlin', L: 'Berlin', OU: ['PKI', 'Ops'] });
    expect(nameToString(name)).toBe('CN=Root,OU=Ops,OU=PKI,O=Strongroom,L=Berlin,ST=Berlin,C=DE');
  });

  it('keeps the order of an explicit list', () => {
    expect(nameToString(buildName([['CN', 'x'], ['C', 'DE']]))).toBe('C=DE,CN=x');
  });

  it('uses PrintableString for C and serialNumber, IA5String for DC, UTF8String for the rest', () => {
    const der = nameDer(buildName({ DC: 'test', C: 'DE', O: 'Strongroom', CN: 'Wurzel Ä', serialNumber: 'A-1' }));
    expect(attributes(der)).toEqual([
      ['060a0992268993f22c640119', 0x16],
      ['0603550406', 0x13],
      ['060355040a', 0x0c],
      ['0603550403', 0x0c],
      ['0603550405', 0x13],
    ]);
  });

  it.each([
    [{ C: 'Germany' }],
    [{ C: 'de' }],
    [{ CN: '' }],
    [{ CN: ' padded' }],
    [{ CN: 'tab\there' }],
    [{ CN: 'x'.repeat(65) }],
    [{ O: 'bell\u0007' }],
    [{ serialNumber: 'ümlaut' }],
    [{ DC: 'two.labels' }],
    [{ XX: 'unknown' } as never],
  ])('refuses %j', (spec) => {
    expect(() => buildName(spec)).toThrow(X509Error);
  });

  it('counts characters, not bytes, against the upper bound', () => {
    expect(() => buildName({ CN: 'ä'.repeat(64) })).not.toThrow();
  });

  it('refuses an empty subject when asked to (CA certificates)', () => {
    expect(isEmptyName(buildName({}))).toBe(true);
    expect(() => buildName({}, { requireNonEmpty: true })).toThrow(/non-empty/);
    expect(() => buildName([], { requireNonEmpty: true })).toThrow(/non-empty/);
  });

  it('compares names byte for byte', () => {
    expect(namesEqual(buildName({ CN: 'a', O: 'b' }), buildName([['O', 'b'], ['CN', 'a']]))).toBe(true);
    expect(namesEqual(buildName({ CN: 'a', O: 'b' }), buildName([['CN', 'a'], ['O', 'b']]))).toBe(false);
  });

  it('escapes RFC 4514 specials in the text form', () => {
    expect(nameToString(buildName({ CN: '#a,b+c "d" ;e<f>=\\' }))).toBe('CN=\\#a\\,b\\+c \\"d\\" \\;e\\<f\\>\\=\\\\');
  });
});
