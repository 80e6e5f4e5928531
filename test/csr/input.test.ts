// Before a byte is interpreted: the size limit, the PEM envelope, and hostile DER — each answered fast.
import { describe, expect, it } from 'vitest';
import { encodeTlv } from '../../ca/x509/der.ts';
import { CSR_MAX_BYTES, parseCsr } from '../../ca/csr/index.ts';
import { buildCsr, expectRefusal, ext, extensionRequest, partsOf, pem, seq, tlv } from './support.ts';

const good = buildCsr();
const goodPem = pem(good);

/** Nested SEQUENCEs, definite lengths, `depth` deep. */
function nested(depth: number): Uint8Array {
  let inner: Uint8Array = Uint8Array.from([0x05, 0x00]);
  for (let i = 0; i < depth; i++) inner = encodeTlv(0x30, inner);
  return inner;
}

/** The same with indefinite lengths: 30 80 … 00 00. */
function nestedIndefinite(depth: number): Uint8Array {
  return Uint8Array.from([...Array<number[]>(depth).fill([0x30, 0x80]).flat(), 0x05, 0x00, ...Array<number>(depth * 2).fill(0)]);
}

/** A constructed TLV's header swapped for the indefinite form, end-of-contents appended. */
function indefinite(der: Uint8Array): Uint8Array {
  const headerLength = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  return Uint8Array.from([der[0]!, 0x80, ...der.subarray(headerLength), 0x00, 0x00]);
}

const [info, alg, sig] = partsOf(good);

describe('size limit', () => {
  it.each([
    ['a string one byte over 64 KiB', 'A'.repeat(CSR_MAX_BYTES + 1)],
    ['a PEM CSR padded past 64 KiB', `${goodPem}${' '.repeat(CSR_MAX_BYTES)}`],
    ['DER bytes over 64 KiB', Uint8Array.from([...good, ...new Uint8Array(CSR_MAX_BYTES)])],
    ['a string under 64 Ki characters but over 64 KiB of UTF-8', 'é'.repeat(CSR_MAX_BYTES / 2 + 1)],
    ['a 50 MB string', 'x'.repeat(50 * 1024 * 1024)],
  ])('refuses %s as too_large, before parsing', (_what, input) => {
    const { error, ms } = expectRefusal(input, 'too_large');
    expect(error.status).toBe(413);
    expect(ms).toBeLessThan(100);
  });

  it('is 64 KiB exactly, and can be set lower', () => {
    expectRefusal('A'.repeat(CSR_MAX_BYTES), 'bad_csr'); // at the limit: parsed (and refused for what it is)
    expect(parseCsr(goodPem).der).toEqual(good);
    expectRefusal(goodPem, 'too_large', { maxBytes: 100 });
  });
});

describe('PEM envelope', () => {
  const body = goodPem.split('\n').slice(1, -2);
  it.each([
    ['two CSR blocks', goodPem + goodPem, /exactly one PEM block, found 2/],
    ['a CSR and a certificate block', goodPem + pem(good, 'CERTIFICATE'), /exactly one PEM block, found 2/],
    ['text before the block', `Subject: svc.example\n${goodPem}`, /text outside the block/],
    ['text after the block', `${goodPem}SMUGGLE\n`, /text outside the block/],
    ['the wrong label', pem(good, 'CERTIFICATE'), /not a CERTIFICATE REQUEST block/],
    ['mismatched BEGIN and END labels', goodPem.replace('END CERTIFICATE REQUEST', 'END NEW CERTIFICATE REQUEST'), /not a CERTIFICATE REQUEST block/],
    ['RFC 1421 headers', goodPem.replace('-----\n', '-----\nProc-Type: 4,ENCRYPTED\n\n'), /invalid base64/],
    ['a stray character in the base64', goodPem.replace(body[1]!, `${body[1]!.slice(0, 10)}*${body[1]!.slice(11)}`), /invalid base64/],
    ['a blank line inside', goodPem.replace(`${body[0]}\n`, `${body[0]}\n\n`), /invalid base64/],
    ['spaces inside a line', goodPem.replace(body[0]!, `${body[0]!.slice(0, 8)} ${body[0]!.slice(8)}`), /invalid base64/],
    ['base64 that does not end on a quantum', goodPem.replace(body[0]!, body[0]!.slice(1)), /invalid base64/],
    ['padding in the middle', goodPem.replace(body[0]!, `${body[0]!.slice(0, 62)}==`), /invalid base64/],
    ['non-zero padding bits', pem(seq(Uint8Array.from([0x05, 0x00]))).replace('MAIFAA==', 'MAIFAB=='), /non-canonical base64/],
    ['an empty block', '-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n', /malformed block/],
    ['a BEGIN line without END', goodPem.split('-----END')[0]!, /do not pair up/],
    ['bare base64 without boundaries', Buffer.from(good).toString('base64'), /expected a PEM CERTIFICATE REQUEST/],
    ['an empty string', '', /expected a PEM CERTIFICATE REQUEST/],
    ['non-ASCII bytes', Uint8Array.from([0xef, 0xbb, 0xbf, ...Buffer.from(goodPem)]), /neither DER nor PEM/],
    ['an empty byte array', new Uint8Array(0), /empty/],
    ['something that is neither a string nor bytes', { length: 3 } as unknown as Uint8Array, /expected a PEM or DER CSR/],
    ['PEM of something that is not DER', pem(Uint8Array.from(Buffer.from('SMUGGLE this is not DER at all'))), /CSR DER/],
    ['PEM of a DER value that is not a CSR', pem(seq(Uint8Array.from([0x02, 0x01, 0x00]))), /CertificationRequest/],
  ] as [string, string | Uint8Array, RegExp][])('refuses %s (bad_csr)', (_what, input, why) => {
    expect(expectRefusal(input, 'bad_csr').error.message).toMatch(why);
  });
});

describe('hostile DER — refused as bad_csr in well under 100 ms, as DER and as PEM', () => {
  const longForm = (n: number) => Uint8Array.from([0x30, 0x84, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
  const rows: [string, Uint8Array, RegExp][] = [
    ['SEQUENCEs nested 5,000 deep', nested(5000), /nested deeper than 32/],
    ['SEQUENCEs nested 12,000 deep', nested(12000), /nested deeper than 32/],
    ['SEQUENCEs nested 33 deep (one past the limit)', nested(33), /nested deeper than 32/],
    ['indefinite-length SEQUENCEs nested 10,000 deep', nestedIndefinite(10000), /indefinite length/],
    ['a CSR nested inside 5,000 SEQUENCEs', (() => { let d = good; for (let i = 0; i < 5000; i++) d = encodeTlv(0x30, d); return d; })(), /nested deeper/],
    ['an outer length claiming 2 GiB', Uint8Array.from([...longForm(0x7fffffff), ...good.subarray(4)]), /length exceeds/],
    ['an outer length claiming 4 GiB', Uint8Array.from([...longForm(0xffffffff), ...good.subarray(4)]), /length exceeds/],
    ['a length of 8 octets', Uint8Array.from([0x30, 0x88, 0, 0, 0, 1, 0, 0, 0, 0, 0x05, 0x00]), /length field too long/],
    ['a length of 127 octets (0xff)', Uint8Array.from([0x30, 0xff, ...new Uint8Array(200).fill(0xff)]), /length field too long/],
    ['an inner length claiming gigabytes', seq(Uint8Array.from([0x30, 0x84, 0x40, 0, 0, 0, 0x05, 0x00])), /length exceeds/],
    ['an inner length one past its parent', Uint8Array.from([0x30, 0x04, 0x30, 0x03, 0x05, 0x00]), /length exceeds/],
    ['a truncated CSR', good.subarray(0, good.length - 1), /length exceeds/],
    ['a truncated header', Uint8Array.from([0x30]), /truncated/],
    ['one trailing zero byte', Uint8Array.from([...good, 0x00]), /1 trailing byte/],
    ['a second CSR after the first', Uint8Array.from([...good, ...good]), /trailing byte/],
    ['trailing garbage', Uint8Array.from([...good, ...Buffer.from('SMUGGLE')]), /7 trailing byte/],
    ['the outer SEQUENCE in BER indefinite form', indefinite(good), /indefinite length \(BER\) at offset 0/],
    ['the request info in BER indefinite form', seq(indefinite(info!), alg!, sig!), /indefinite length/],
    ['an extension value in BER indefinite form', buildCsr({ attributes: extensionRequest(ext('2.5.29.19', indefinite(seq()))) }), /extension 2\.5\.29\.19: indefinite length/],
    ['end-of-contents octets in a definite SEQUENCE', seq(info!, alg!, sig!, [0x00, 0x00]), /end-of-contents/],
    ['a non-minimal length (leading zero octet)', Uint8Array.from([0x30, 0x82, 0x00, good[1]!, ...good.subarray(2)]), /not minimally encoded/],
    ['a long-form length under 128', seq(Uint8Array.from([0x30, 0x81, 0x02, 0x05, 0x00])), /not minimally encoded/],
    ['a high-tag-number form', seq(Uint8Array.from([0x1f, 0x81, 0x00, 0x00])), /high tag number/],
    ['a constructed OCTET STRING', buildCsr({ attributes: extensionRequest(seq(Uint8Array.from([0x06, 0x03, 0x55, 0x1d, 0x13]), tlv(0x24, tlv(0x04, seq())))) }), /constructed string/],
    ['a primitive SEQUENCE', seq(Uint8Array.from([0x10, 0x00])), /primitive SEQUENCE/],
    ['a single NULL (as DER: not a SEQUENCE, so read as text)', Uint8Array.from([0x05, 0x00]), /expected a PEM|CertificationRequest: unexpected type/],
    ['random bytes after a SEQUENCE tag', Uint8Array.from([0x30, ...Array.from({ length: 5000 }, (_, i) => (i * 73 + 11) & 0xff)]), /CSR DER/],
  ];

  it.each(rows)('%s', (_what, der, why) => {
    const refusal = expectRefusal(der, 'bad_csr');
    expect(refusal.error.message).toMatch(why);
    expect(refusal.ms).toBeLessThan(100);
    if (der.length * 1.4 < CSR_MAX_BYTES) {
      const viaPem = expectRefusal(pem(der), 'bad_csr');
      expect(viaPem.error.message).toMatch(why);
      expect(viaPem.ms).toBeLessThan(100);
    }
  });
});
