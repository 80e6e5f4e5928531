// The extensionRequest list check on the raw bytes (ca/csr/extension-list.ts) refuses what parsing the list with
// @peculiar/asn1-x509's Extensions and re-encoding it refused, with the same message, and reads the same OIDs,
// critical flags and values. Every row also asks the library itself, so a row whose expectation drifted from the
// library's answer fails too.
import { AsnConvert } from '@peculiar/asn1-schema';
import { Extensions } from '@peculiar/asn1-x509';
import { describe, expect, it } from 'vitest';
import { parseCsr } from '../../ca/csr/index.ts';
import { readExtensionList } from '../../ca/csr/extension-list.ts';
import { bytesEqual, readTlv, toBytes } from '../../ca/x509/der.ts';
import { bool, buildCsr, expectRefusal, ext, extensionRequest, int, nul, octets, oid, OID, seq, set, tlv } from './support.ts';

type Verdict = 'ok' | 'not a list' | 'not DER';
interface Read {
  oid: string;
  critical: boolean;
  value: string;
}

function libraryVerdict(list: Uint8Array): { verdict: Verdict; read?: Read[] } {
  let parsed: Extensions;
  try {
    parsed = AsnConvert.parse(list, Extensions);
  } catch {
    return { verdict: 'not a list' };
  }
  if (!bytesEqual(toBytes(AsnConvert.serialize(parsed)), list)) return { verdict: 'not DER' };
  return { verdict: 'ok', read: parsed.map((e) => ({ oid: e.extnID, critical: e.critical, value: Buffer.from(e.extnValue.buffer).toString('hex') })) };
}

function rawVerdict(list: Uint8Array): { verdict: Verdict; read?: Read[] } {
  try {
    const read = readExtensionList(readTlv(list)).map((e) => ({ oid: e.oid, critical: e.critical, value: Buffer.from(e.value).toString('hex') }));
    return { verdict: 'ok', read };
  } catch (e) {
    const message = (e as Error).message;
    if (message === 'extensionRequest: not a list of extensions') return { verdict: 'not a list' };
    if (message === 'extensionRequest: not DER') return { verdict: 'not DER' };
    throw e;
  }
}

const BC = OID.basicConstraints;
const v = () => octets(seq());
/** 2^49 needs 8 base-128 octets, 2^48 seven, 2^56 nine. */
const ARC_7_OCTETS = (1n << 48n).toString();
const ARC_8_OCTETS = (1n << 49n).toString();
const ARC_9_OCTETS = (1n << 56n).toString();
const nulls = (n: number) => seq(...Array.from({ length: n }, nul));

const rows: [string, () => Uint8Array[], Verdict][] = [
  ['no extensions', () => [], 'ok'],
  ['critical TRUE', () => [ext(BC, seq(), true)], 'ok'],
  ['an empty extnValue', () => [seq(oid(BC), octets([]))], 'ok'],
  ['an extnID with a 7-octet arc', () => [ext(`1.2.${ARC_7_OCTETS}`, seq())], 'ok'],
  // The element: SEQUENCE, or a constructed context tag the library reads as one and writes back as SEQUENCE
  ['an extension that is a NULL', () => [nul()], 'not a list'],
  ['an extension that is a SET', () => [set(oid(BC), v())], 'not a list'],
  ['an extension tagged [APPLICATION 0]', () => [tlv(0x60, oid(BC), v())], 'not a list'],
  ['an extension tagged [PRIVATE 0]', () => [tlv(0xe0, oid(BC), v())], 'not a list'],
  ['an extension tagged [0] primitive', () => [tlv(0x80, [1])], 'not a list'],
  ['an extension tagged [0] constructed', () => [tlv(0xa0, oid(BC), v())], 'not DER'],
  ['an extension tagged [16] constructed, critical TRUE', () => [tlv(0xb0, oid(BC), bool(true), v())], 'not DER'],
  ['an extension tagged [0] holding a SEQUENCE', () => [tlv(0xa0, seq(oid(BC), v()))], 'not a list'],
  // extnID
  ['an empty extension', () => [seq()], 'not a list'],
  ['an extension without extnID', () => [seq(v())], 'not a list'],
  ['an extnID that is a NULL', () => [seq(nul(), v())], 'not a list'],
  ['an extnID that is a RELATIVE-OID', () => [seq(tlv(0x0d, [1]), v())], 'not a list'],
  ['an extnID with an 8-octet arc', () => [ext(`1.2.${ARC_8_OCTETS}`, seq())], 'not DER'],
  ['an extnID with a 9-octet arc', () => [ext(`1.2.${ARC_9_OCTETS}`, seq())], 'not DER'],
  // critical and extnValue
  ['critical FALSE written out (its DEFAULT)', () => [ext(BC, seq(), false)], 'not DER'],
  ['an extension without extnValue', () => [seq(oid(BC))], 'not a list'],
  ['critical without extnValue', () => [seq(oid(BC), bool(true))], 'not a list'],
  ['critical twice', () => [seq(oid(BC), bool(true), bool(true), v())], 'not a list'],
  ['a NULL where critical or extnValue belongs', () => [seq(oid(BC), nul(), v())], 'not a list'],
  ['extnValue tagged [4]', () => [seq(oid(BC), tlv(0x84, [0x30, 0]))], 'not a list'],
  ['extnValue before extnID', () => [seq(v(), oid(BC))], 'not a list'],
  // Fields after extnValue: skipped by the parse, so not written back — unless asn1js cannot decode them at all
  ['a NULL after extnValue', () => [seq(oid(BC), v(), nul())], 'not DER'],
  ['critical after extnValue', () => [seq(oid(BC), v(), bool(true))], 'not DER'],
  ['a second extnValue', () => [seq(oid(BC), bool(true), v(), v())], 'not DER'],
  ['a malformed UTCTime after extnValue', () => [seq(oid(BC), v(), tlv(0x17, Buffer.from('x')))], 'not DER'],
  ['a [UNIVERSAL 15] after extnValue', () => [seq(oid(BC), v(), tlv(0x0f, [1]))], 'not a list'],
  ['an odd-length BMPString after extnValue', () => [seq(oid(BC), v(), tlv(0x1e, [0, 0x41, 0]))], 'not a list'],
  ['an undecodable field after extnValue, then critical FALSE', () => [seq(oid(BC), v(), tlv(0x0f, [1])), ext('2.5.29.15', seq(), false)], 'not a list'],
  // The parse fails on any element before anything is compared
  ['critical FALSE, then an extension that is not one', () => [ext(BC, seq(), false), int(1)], 'not a list'],
  ['an 8-octet arc, then an extension without extnValue', () => [ext(`1.2.${ARC_8_OCTETS}`, seq()), seq(oid(BC))], 'not a list'],
  ['[0] constructed, then an extension that is a SET', () => [tlv(0xa0, oid(BC), v()), set(oid(BC), v())], 'not a list'],
  // asn1js's 10,000-node limit, which counts its speculative decoding of OCTET STRING contents
  ['10,000 nodes inside an extnValue, then another extension', () => [ext(BC, nulls(10_000)), ext('2.5.29.15', seq())], 'not a list'],
  ['10,000 nodes inside the last extnValue (its failed speculative decoding is ignored)', () => [ext(BC, nulls(10_000))], 'ok'],
  ['a list over 10,000 bytes within the node limit (decided by the library)', () => [ext(BC, octets(new Uint8Array(12_000)))], 'ok'],
];

describe('the extension list is judged as the library round trip judged it', () => {
  it.each(rows)('%s', (_what, make, verdict) => {
    const list = seq(...make());
    const library = libraryVerdict(list);
    expect(library.verdict).toBe(verdict);
    expect(rawVerdict(list)).toEqual(library);
  });
});

describe('through parseCsr', () => {
  it.each([
    ['critical FALSE written out', [ext(BC, seq(), false)], 'extensionRequest: not DER'],
    ['an extension tagged [0] constructed', [tlv(0xa0, oid(BC), v())], 'extensionRequest: not DER'],
    ['a NULL after extnValue', [seq(oid(BC), v(), nul())], 'extensionRequest: not DER'],
    ['an extnID with a 9-octet arc', [ext(`1.2.${ARC_9_OCTETS}`, seq())], 'extensionRequest: not DER'],
    ['an extension without extnValue', [seq(oid(BC))], 'extensionRequest: not a list of extensions'],
    ['an extension tagged [APPLICATION 0]', [tlv(0x60, oid(BC), v())], 'extensionRequest: not a list of extensions'],
    ['critical FALSE, then an extension that is not one', [ext(BC, seq(), false), int(1)], 'extensionRequest: not a list of extensions'],
    ['an unknown extension marked critical', [ext('1.2.3.4', nul(), true)], 'critical extension 1.2.3.4 is not one we know'],
    ['the same extension twice', [ext(BC, seq()), ext(BC, seq(), true)], `extension ${BC} requested more than once`],
  ] as const)('%s', (_what, exts, message) => {
    expect(expectRefusal(buildCsr({ attributes: extensionRequest(...exts) }), 'bad_csr').error.message).toBe(message);
  });

  it('reads OIDs and critical flags as the library did', () => {
    const csr = parseCsr(buildCsr({ attributes: extensionRequest(ext(BC, seq(), true), ext('1.2.3.4', nul()), ext(`1.2.${ARC_7_OCTETS}`, nul())) }));
    expect(csr.requestedExtensions).toEqual([
      { oid: BC, name: 'basicConstraints', critical: true },
      { oid: '1.2.3.4', critical: false },
      { oid: `1.2.${ARC_7_OCTETS}`, critical: false },
    ]);
  });
});
