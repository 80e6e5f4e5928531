// PEM: one block, the right label, canonical base64, one DER value — anything else is refused.
import { describe, expect, it } from 'vitest';
import { fromPem, toPem, X509Error } from '../../ca/x509/index.ts';

const der = Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x07]);
const pem = toPem(der, 'CERTIFICATE');

describe('PEM', () => {
  it('writes 64-column base64 between the labels, and reads it back', () => {
    const big = Uint8Array.from([0x04, 0x81, 0x80, ...new Uint8Array(128).fill(0x5a)]);
    const text = toPem(big, 'X509 CRL');
    expect(text.split('\n').slice(1, -2).every((l) => l.length <= 64)).toBe(true);
    expect(text.startsWith('-----BEGIN X509 CRL-----\n')).toBe(true);
    expect(fromPem(text, 'X509 CRL')).toEqual(big);
    expect(fromPem(pem, 'CERTIFICATE')).toEqual(der);
  });

  it('accepts CRLF line ends and surrounding whitespace', () => {
    expect(fromPem(`\n${pem.replace(/\n/g, '\r\n')}\n\n`, 'CERTIFICATE')).toEqual(der);
  });

  it.each([
    ['two blocks', pem + pem],
    ['trailing garbage', `${pem}garbage\n`],
    ['leading text', `subject=CN=x\n${pem}`],
    ['another label', toPem(der, 'PUBLIC KEY')],
    ['mismatched END label', pem.replace('END CERTIFICATE', 'END X509 CRL')],
    ['bad base64 characters', pem.replace('MAMC', 'M*MC')],
    ['non-canonical padding bits', pem.replace('AQc=', 'AQd=')],
    ['an empty body', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'],
    ['DER with trailing bytes', toPem(Uint8Array.from([...der, 0]), 'CERTIFICATE')],
    ['truncated DER', toPem(der.subarray(0, 4), 'CERTIFICATE')],
    ['nothing at all', ''],
  ])('refuses %s', (_what, text) => {
    expect(() => fromPem(text, 'CERTIFICATE')).toThrow(X509Error);
  });
});
