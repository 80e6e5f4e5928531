// Every CRL lint rule, broken once on an otherwise clean TBSCertList; the clean one produces no finding.
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, CRLReason, Extension, id_ce_cRLNumber, id_ce_cRLReasons, Time, type TBSCertList } from '@peculiar/asn1-x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { children, encodeTlv } from '../../ca/x509/der.ts';
import {
  basicConstraints,
  buildName,
  buildTbsCrl,
  cRLNumber,
  CRL_FINDING_CODES,
  extension,
  issueCertificate,
  keyIdentifier,
  keyUsage,
  lintCrl,
  parseTbsCrl,
  subjectKeyIdentifier,
  type CrlFindingCode,
  type CrlLintContext,
  type SignedCertificate,
  type TbsCrlSpec,
} from '../../ca/x509/index.ts';
import { SoftwareSigner } from '../support/software-signer.ts';
import { fromHex, rewriteDer } from './der-surgery.ts';
import { crlLint, crlSpec, rootLint, rootSpec } from './fixtures.ts';

let signer: SoftwareSigner;
let other: SoftwareSigner;
let root: SignedCertificate;
let noCrlSignRoot: SignedCertificate;
const SERIAL = fromHex('3a5f9c0e11d2a4b6c8e0f1a2b3c4d5e6');

beforeAll(async () => {
  signer = SoftwareSigner.generate('ec-p384');
  other = SoftwareSigner.generate('ec-p384');
  root = await issueCertificate(await rootSpec(signer), signer, rootLint);
  const spec = await rootSpec(other, 'Root Without cRLSign');
  noCrlSignRoot = await issueCertificate(
    { ...spec, extensions: [basicConstraints({ ca: true }), keyUsage(['keyCertSign']), subjectKeyIdentifier(other.spki)] },
    other,
    rootLint,
  );
});

const raw = (oid: string, critical: boolean, value: Uint8Array) => new Extension({ extnID: oid, critical, extnValue: new OctetString(value) });
const reason = (code: number) => extension(id_ce_cRLReasons, false, new CRLReason(code));
const firstEntry = (t: TBSCertList) => t.revokedCertificates![0]!;
const DAY = 86_400_000;

interface Row {
  code: CrlFindingCode;
  spec?: (s: TbsCrlSpec) => TbsCrlSpec;
  tbs?: (t: TBSCertList) => void;
  der?: (d: Uint8Array) => Uint8Array;
  ctx?: () => Partial<CrlLintContext>;
  also?: CrlFindingCode[];
}

const ROWS: Row[] = [
  { code: 'crl-tbs-malformed', der: (d) => d.subarray(0, 40) },
  {
    code: 'crl-tbs-not-der',
    // cRLNumber with critical FALSE written out: parses, but DER leaves a DEFAULT value out.
    der: (d) =>
      rewriteDer(
        d,
        (t) => t.tag === 0x30 && t.content[0] === 0x06 && Buffer.from(t.content.subarray(0, 5)).equals(Buffer.from('0603551d14', 'hex')),
        (t) => {
          const [oid, value] = children(t);
          return encodeTlv(0x30, Buffer.concat([oid!.bytes, Uint8Array.from([1, 1, 0]), value!.bytes]));
        },
      ),
  },
  { code: 'crl-version-not-v2', tbs: (t) => (t.version = undefined) },
  { code: 'crl-signature-algorithm-unsupported', tbs: (t) => (t.signature = new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.3', parameters: null })) },
  { code: 'crl-signature-algorithm-mismatch', spec: (s) => ({ ...s, signatureAlgorithm: 'ecdsa-sha256' }) },
  { code: 'crl-signature-algorithm-key-mismatch', spec: (s) => ({ ...s, signatureAlgorithm: 'ed25519' }), also: ['crl-signature-algorithm-mismatch'] },
  { code: 'crl-issuer-mismatch', spec: (s) => ({ ...s, issuer: buildName({ C: 'DE', O: 'Strongroom Test', CN: 'Another Root' }) }) },
  { code: 'crl-signer-key-mismatch', ctx: () => ({ signer: other }) },
  {
    code: 'crl-issuer-cannot-sign-crls',
    spec: (s) => ({ ...s, issuer: buildName({ C: 'DE', O: 'Strongroom Test', CN: 'Root Without cRLSign' }), authorityKeyId: keyIdentifier(other.spki) }),
    ctx: () => ({ issuerCertificate: noCrlSignRoot.der, signer: other }),
  },
  { code: 'crl-time-encoding', tbs: (t) => (t.thisUpdate = new Time({ generalTime: new Date('2026-03-01T00:00:00Z') })) },
  { code: 'crl-time-encoding', tbs: (t) => (firstEntry(t).revocationDate = new Time({ generalTime: new Date('2026-02-15T12:00:00Z') })) },
  // Also not-der: @peculiar/asn1-x509 drops the revoked entries of a TBSCertList without nextUpdate when parsing.
  { code: 'crl-next-update-missing', tbs: (t) => (t.nextUpdate = undefined), also: ['crl-tbs-not-der'] },
  { code: 'crl-next-update-not-after-this-update', spec: (s) => ({ ...s, nextUpdate: s.thisUpdate }) },
  { code: 'crl-validity-too-long', ctx: () => ({ maxValidityDays: 30 }) },
  { code: 'crl-extension-duplicate', tbs: (t) => t.crlExtensions!.push(cRLNumber(7n)) },
  // issuingDistributionPoint, critical: a CRL partitioned by scope, which we neither issue nor understand.
  { code: 'crl-extension-unknown-critical', tbs: (t) => t.crlExtensions!.push(raw('2.5.29.28', true, fromHex('3000'))) },
  { code: 'crl-extension-malformed', tbs: (t) => (t.crlExtensions![0] = raw('2.5.29.35', false, fromHex('3003800100ff'))), also: ['crl-aki-missing'] },
  { code: 'crl-entry-extension-duplicate', tbs: (t) => firstEntry(t).crlEntryExtensions!.push(reason(1)) },
  // certificateIssuer, critical: an indirect CRL entry.
  { code: 'crl-entry-extension-unknown-critical', tbs: (t) => firstEntry(t).crlEntryExtensions!.push(raw('2.5.29.29', true, fromHex('3000'))) },
  { code: 'crl-entry-extension-malformed', tbs: (t) => (firstEntry(t).crlEntryExtensions![0] = raw(id_ce_cRLReasons, false, fromHex('0a0201'))) },
  { code: 'crl-number-missing', tbs: (t) => (t.crlExtensions = t.crlExtensions!.filter((e) => e.extnID !== id_ce_cRLNumber)) },
  { code: 'crl-number-critical', tbs: (t) => (t.crlExtensions!.find((e) => e.extnID === id_ce_cRLNumber)!.critical = true) },
  { code: 'crl-number-not-positive', spec: (s) => ({ ...s, crlNumber: 0n }) },
  { code: 'crl-number-too-long', spec: (s) => ({ ...s, crlNumber: 2n ** 160n }) },
  { code: 'crl-number-not-increasing', spec: (s) => ({ ...s, crlNumber: 41n }), ctx: () => ({ previousCrlNumber: 41n }) },
  {
    code: 'crl-delta-indicator-not-critical',
    spec: (s) => ({ ...s, crlNumber: 9n, deltaOf: 7n }),
    tbs: (t) => (t.crlExtensions!.find((e) => e.extnID === '2.5.29.27')!.critical = false),
    ctx: () => ({ deltaOf: 7n }),
  },
  { code: 'crl-delta-base-not-below-number', spec: (s) => ({ ...s, crlNumber: 9n, deltaOf: 9n }), ctx: () => ({ deltaOf: 9n }) },
  // A delta where a complete CRL was meant, a complete one where a delta was meant, and a delta of another base.
  { code: 'crl-delta-mismatch', spec: (s) => ({ ...s, crlNumber: 9n, deltaOf: 7n }) },
  { code: 'crl-delta-mismatch', spec: (s) => ({ ...s, crlNumber: 9n }), ctx: () => ({ deltaOf: 7n }) },
  { code: 'crl-delta-mismatch', spec: (s) => ({ ...s, crlNumber: 9n, deltaOf: 6n }), ctx: () => ({ deltaOf: 7n }) },
  {
    code: 'crl-freshest-critical',
    spec: (s) => ({ ...s, freshestCrlUrls: ['http://ca.example/crl/delta/root.crl'] }),
    tbs: (t) => (t.crlExtensions!.find((e) => e.extnID === '2.5.29.46')!.critical = true),
  },
  { code: 'crl-aki-missing', tbs: (t) => (t.crlExtensions = t.crlExtensions!.filter((e) => e.extnID !== '2.5.29.35')) },
  { code: 'crl-aki-mismatch', spec: (s) => ({ ...s, authorityKeyId: keyIdentifier(other.spki) }) },
  // Also not-der: the parser reads an empty list as an absent one.
  { code: 'crl-revoked-list-empty', tbs: (t) => (t.revokedCertificates = []), also: ['crl-tbs-not-der'] },
  { code: 'crl-entry-serial-invalid', spec: (s) => ({ ...s, revoked: [{ ...s.revoked[0]!, serial: fromHex('80aa') }] }) },
  { code: 'crl-duplicate-serial', spec: (s) => ({ ...s, revoked: [s.revoked[0]!, { ...s.revoked[0]!, reason: 'superseded' }] }) },
  { code: 'crl-revocation-after-this-update', spec: (s) => ({ ...s, revoked: [{ ...s.revoked[0]!, revocationDate: new Date(s.thisUpdate.getTime() + 1000), invalidityDate: s.thisUpdate }] }) },
  { code: 'crl-reason-invalid', tbs: (t) => (firstEntry(t).crlEntryExtensions![0] = reason(8)) }, // removeFromCRL
  { code: 'crl-reason-invalid', tbs: (t) => (firstEntry(t).crlEntryExtensions![0] = reason(7)) }, // unassigned
  { code: 'crl-invalidity-date-after-revocation', spec: (s) => ({ ...s, revoked: [{ ...s.revoked[0]!, invalidityDate: new Date(s.revoked[0]!.revocationDate.getTime() + DAY) }] }) },
];

const WARNINGS: Row[] = [{ code: 'crl-reason-unspecified', tbs: (t) => (firstEntry(t).crlEntryExtensions![0] = reason(0)) }];

function lintRow(row: Row) {
  const spec = crlSpec(root.der, signer, SERIAL);
  const { tbs } = buildTbsCrl(row.spec ? row.spec(spec) : spec);
  row.tbs?.(tbs);
  let der: Uint8Array = Uint8Array.from(Buffer.from(AsnConvert.serialize(tbs)));
  if (row.der) der = row.der(der);
  return lintCrl(der, { ...crlLint(root.der), signer, ...(row.ctx?.() ?? {}) });
}

describe('lintCrl: clean TBSCertLists', () => {
  it('the clean CRL has no findings', () => {
    expect(lintRow({ code: 'crl-tbs-malformed' })).toEqual([]);
  });

  it('a CRL revoking nothing omits revokedCertificates and has no findings', () => {
    const { der } = buildTbsCrl({ ...crlSpec(root.der, signer, SERIAL), revoked: [] });
    expect(parseTbsCrl(der).revokedCertificates).toBeUndefined();
    expect(lintCrl(der, { ...crlLint(root.der, 0n), signer })).toEqual([]);
  });

  it("a reason of 'unspecified' writes no reasonCode at all", () => {
    const spec = crlSpec(root.der, signer, SERIAL);
    const { tbs } = buildTbsCrl({ ...spec, revoked: [{ serial: SERIAL, revocationDate: spec.thisUpdate, reason: 'unspecified' }] });
    expect(firstEntry(tbs).crlEntryExtensions).toBeUndefined();
  });

  it('a delta CRL (critical deltaCRLIndicator below its own number) and a complete CRL naming its deltas pass', () => {
    const spec = crlSpec(root.der, signer, SERIAL, 12n);
    const delta = buildTbsCrl({ ...spec, deltaOf: 10n });
    const indicator = delta.tbs.crlExtensions!.find((e) => e.extnID === '2.5.29.27')!;
    expect(indicator.critical).toBe(true);
    expect(Buffer.from(indicator.extnValue.buffer).toString('hex')).toBe('02010a');
    expect(lintCrl(delta.der, { ...crlLint(root.der, 11n), signer, deltaOf: 10n })).toEqual([]);
    const complete = buildTbsCrl({ ...spec, freshestCrlUrls: ['http://ca.example/crl/delta/root.crl'] });
    expect(complete.tbs.crlExtensions!.find((e) => e.extnID === '2.5.29.46')!.critical).toBe(false);
    expect(lintCrl(complete.der, { ...crlLint(root.der, 11n), signer })).toEqual([]);
  });

  it('a 20-octet CRL number above a previous one passes', () => {
    const big = 2n ** 158n + 5n;
    const { der } = buildTbsCrl({ ...crlSpec(root.der, signer, SERIAL), crlNumber: big });
    expect(lintCrl(der, { ...crlLint(root.der, big - 1n), signer })).toEqual([]);
  });

  it('every finding code has a row below', () => {
    expect(new Set([...ROWS, ...WARNINGS].map((r) => r.code))).toEqual(new Set(CRL_FINDING_CODES));
  });
});

describe('lintCrl: each rule broken once', () => {
  it.each(ROWS.map((r, i) => [`${r.code} #${i}`, r] as const))('%s', (_name, row) => {
    const findings = lintRow(row);
    expect(new Set(findings.map((f) => f.code))).toEqual(new Set([row.code, ...(row.also ?? [])]));
    expect(findings.find((f) => f.code === row.code)!.severity).toBe('error');
  });

  it.each(WARNINGS.map((r) => [r.code, r] as const))('%s is a warning, not an error', (_name, row) => {
    const findings = lintRow(row);
    expect(findings).toEqual([expect.objectContaining({ code: row.code, severity: 'warning' })]);
  });
});
