// Work bounds: a CSR under 64 KiB can still hold thousands of tiny elements, and the ASN.1 library pays per
// element (~50 µs per GeneralName, more per subject attribute). Element budgets and counts keep every answer fast.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_ELEMENTS, MAX_EXTENSIONS, MAX_OTHER_EXTENSION_ELEMENTS, MAX_SUBJECT_ATTRIBUTES, parseCsr } from '../../ca/csr/index.ts';
import { buildCsr, expectRefusal, ext, extensionRequest, gn, int, nul, oid, san, seq, set, tlv, utf8 } from './support.ts';

const subjectOf = (n: number) => seq(...Array.from({ length: n }, () => set(seq(oid('2.5.4.11'), utf8('unit')))));
const sanOf = (n: number) => extensionRequest(san(...Array.from({ length: n }, (_, i) => gn.dns(`h${i}.svc.example`))));
const extsOf = (n: number) => extensionRequest(...Array.from({ length: n }, (_, i) => ext(`1.3.6.1.4.1.99999.${i}`, nul())));
const issuerAltNames = (n: number) => extensionRequest(ext('2.5.29.18', seq(...Array.from({ length: n }, () => gn.dns('ab')))));
const bigAttribute = (n: number) => tlv(0xa0, seq(oid('1.2.3.4'), set(...Array.from({ length: n }, () => int(1)))));

/** The fastest of five runs: the machine may be busy (other suites, other processes), the code must not be slow. */
function fastest(f: () => void): number {
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

describe('at the limits: accepted, and still fast', () => {
  it.each([
    [`${MAX_SUBJECT_ATTRIBUTES} subject attributes`, () => buildCsr({ subject: subjectOf(MAX_SUBJECT_ATTRIBUTES) })],
    ['1,000 subjectAltNames', () => buildCsr({ attributes: sanOf(1000) })],
    [`${MAX_EXTENSIONS} requested extensions`, () => buildCsr({ attributes: extsOf(MAX_EXTENSIONS) })],
    ['an issuerAltName of 500 names (library-parsed)', () => buildCsr({ attributes: issuerAltNames(500) })],
    ['an unknown attribute of 1,000 INTEGERs', () => buildCsr({ attributes: bigAttribute(1000) })],
  ])('%s', (_what, make) => {
    const der = make();
    expect(() => parseCsr(der)).not.toThrow();
    expect(fastest(() => parseCsr(der))).toBeLessThan(100);
  });
});

describe('past the limits: bad_csr, fast', () => {
  it.each([
    [`${MAX_SUBJECT_ATTRIBUTES + 1} subject attributes`, () => buildCsr({ subject: subjectOf(MAX_SUBJECT_ATTRIBUTES + 1) }), /subject: more than 32 attributes/],
    [`${DEFAULT_MAX_ELEMENTS + 10} subjectAltNames`, () => buildCsr({ attributes: sanOf(DEFAULT_MAX_ELEMENTS + 10) }), /extension 2\.5\.29\.17: more than 1024 DER elements/],
    [`${MAX_EXTENSIONS + 1} requested extensions`, () => buildCsr({ attributes: extsOf(MAX_EXTENSIONS + 1) }), /more than 64 requested extensions/],
    ['an issuerAltName of 600 names', () => buildCsr({ attributes: issuerAltNames(MAX_OTHER_EXTENSION_ELEMENTS + 88) }), /extension 2\.5\.29\.18: more than 512 DER elements/],
    ['an unknown attribute of 1,100 INTEGERs', () => buildCsr({ attributes: bigAttribute(1100) }), /CSR DER: more than 1024 DER elements/],
  ] as [string, () => Uint8Array, RegExp][])('%s', (what, make, why) => {
    const der = make();
    const r = expectRefusal(der, 'bad_csr');
    expect(r.error.message, what).toMatch(why);
    expect(fastest(() => expectRefusal(der, 'bad_csr'))).toBeLessThan(100);
  });

  it('maxElements can be lowered', () => {
    expectRefusal(buildCsr({ attributes: sanOf(20) }), 'bad_csr', { maxElements: 16 });
    expect(parseCsr(buildCsr({ attributes: sanOf(20) }), { maxElements: 64 }).requested.dns).toHaveLength(20);
  });
});
