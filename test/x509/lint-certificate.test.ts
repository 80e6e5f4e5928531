// Every certificate lint rule, broken once on an otherwise clean TBS: the rule's code must appear. And the clean
// root, intermediate and end-entity TBSs must produce no finding at all, so each row tests one rule.
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Extension,
  KeyUsage,
  SubjectKeyIdentifier,
  Time,
  Version,
  type TBSCertificate,
} from '@peculiar/asn1-x509';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorityKeyIdentifier,
  basicConstraints,
  buildName,
  buildTbsCertificate,
  CERTIFICATE_FINDING_CODES,
  EXTENSION_OIDS as OID,
  extension,
  extKeyUsage,
  issueCertificate,
  issuerInfo,
  issuerName,
  keyIdentifier,
  keyUsage,
  lintCertificate,
  nameConstraints,
  subjectAltName,
  subjectKeyIdentifier,
  type CertificateFindingCode,
  type CertificateLintContext,
  type SignedCertificate,
  type TbsCertificateSpec,
} from '../../ca/x509/index.ts';
import { SoftwareSigner } from '../support/software-signer.ts';
import { encodeTlv, readTlv } from '../../ca/x509/der.ts';
import { rewriteDer } from './der-surgery.ts';
import { intermediateLint, intermediateSpec, NOT_BEFORE, rootLint, rootSpec } from './fixtures.ts';

let rootSigner: SoftwareSigner;
let intSigner: SoftwareSigner;
let eeKey: SoftwareSigner;
let root: SignedCertificate;
let intermediate: SignedCertificate;
let endEntity: SignedCertificate;

type Base = 'root' | 'intermediate' | 'ee';

async function eeSpec(issuerDer: Uint8Array, signer: SoftwareSigner): Promise<TbsCertificateSpec> {
  const spec = await intermediateSpec(issuerDer, signer, eeKey.spki);
  return {
    ...spec,
    subject: buildName({ CN: 'service.strongroom.test' }),
    notAfter: new Date(NOT_BEFORE.getTime() + 90 * 86_400_000),
    extensions: [
      keyUsage(['digitalSignature']),
      extKeyUsage(['serverAuth']),
      subjectAltName({ dns: ['service.strongroom.test'] }),
      subjectKeyIdentifier(eeKey.spki),
      authorityKeyIdentifier(issuerInfo(issuerDer).keyIdentifier),
    ],
  };
}

async function base(kind: Base): Promise<{ spec: TbsCertificateSpec; ctx: CertificateLintContext }> {
  if (kind === 'root') return { spec: await rootSpec(rootSigner), ctx: { ...rootLint, signer: rootSigner } };
  if (kind === 'intermediate') return { spec: await intermediateSpec(root.der, rootSigner, intSigner.spki), ctx: { ...intermediateLint(root.der), signer: rootSigner } };
  return { spec: await eeSpec(root.der, rootSigner), ctx: { ca: false, maxValidityDays: 398, issuerCertificate: root.der, signer: rootSigner } };
}

beforeAll(async () => {
  rootSigner = SoftwareSigner.generate('ec-p256');
  intSigner = SoftwareSigner.generate('ec-p256');
  eeKey = SoftwareSigner.generate('ec-p256');
  root = await issueCertificate(await rootSpec(rootSigner), rootSigner, rootLint);
  intermediate = await issueCertificate(await intermediateSpec(root.der, rootSigner, intSigner.spki), rootSigner, intermediateLint(root.der));
  const ee = await base('ee');
  endEntity = await issueCertificate(ee.spec, rootSigner, ee.ctx);
});

const without = (oid: string) => (s: TbsCertificateSpec) => ({ ...s, extensions: s.extensions.filter((e) => e.extnID !== oid) });
const swap = (oid: string, ext: () => Extension) => (s: TbsCertificateSpec) => ({ ...s, extensions: s.extensions.map((e) => (e.extnID === oid ? ext() : e)) });
const add = (ext: () => Extension) => (s: TbsCertificateSpec) => ({ ...s, extensions: [...s.extensions, ext()] });
const raw = (oid: string, critical: boolean, value: Uint8Array) => new Extension({ extnID: oid, critical, extnValue: new OctetString(value) });

interface Row {
  code: CertificateFindingCode;
  base: Base;
  spec?: (s: TbsCertificateSpec) => TbsCertificateSpec;
  tbs?: (t: TBSCertificate) => void;
  der?: (d: Uint8Array) => Uint8Array;
  ctx?: () => Partial<CertificateLintContext>;
  /** Findings that follow from the same break (a BC that does not parse is also a missing BC). */
  also?: CertificateFindingCode[];
}

const ROWS: Row[] = [
  { code: 'tbs-malformed', base: 'root', der: (d) => d.subarray(0, d.length - 5) },
  {
    code: 'tbs-not-der',
    base: 'ee',
    // keyUsage's critical TRUE rewritten as an explicit FALSE: it parses, but DER leaves a DEFAULT value out.
    der: (d) => rewriteDer(d, (t) => t.tag === 0x01, () => Uint8Array.from([0x01, 0x01, 0x00])),
  },
  { code: 'version-not-v3', base: 'root', tbs: (t) => (t.version = Version.v2) },
  { code: 'serial-not-minimal', base: 'root', tbs: (t) => (t.serialNumber = Uint8Array.from([0, 0x12, 1, 2, 3, 4, 5, 6, 7, 8]).buffer) },
  { code: 'serial-not-positive', base: 'root', spec: (s) => ({ ...s, serial: Uint8Array.from([0x80, 1, 2, 3, 4, 5, 6, 7, 8]) }) },
  { code: 'serial-too-long', base: 'root', spec: (s) => ({ ...s, serial: Uint8Array.from({ length: 21 }, (_, i) => i + 1) }) },
  { code: 'serial-low-entropy', base: 'root', spec: (s) => ({ ...s, serial: Uint8Array.from([1, 2, 3, 4, 5, 6, 7]) }) },
  { code: 'signature-algorithm-unsupported', base: 'root', tbs: (t) => (t.signature = new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2', parameters: null })) },
  { code: 'signature-algorithm-mismatch', base: 'root', spec: (s) => ({ ...s, signatureAlgorithm: 'ecdsa-sha384' }) },
  { code: 'signature-algorithm-key-mismatch', base: 'root', spec: (s) => ({ ...s, signatureAlgorithm: 'rsa-pkcs1-sha256' }), also: ['signature-algorithm-mismatch'] },
  {
    code: 'signature-algorithm-key-mismatch',
    base: 'intermediate',
    // A Signer that misdescribes its key: the public key is P-256, the label says RSA.
    ctx: () => ({ signer: { keyType: 'rsa-2048', algorithm: 'ecdsa-sha256', spki: rootSigner.spki } }),
  },
  { code: 'issuer-mismatch', base: 'intermediate', spec: (s) => ({ ...s, issuer: buildName({ C: 'DE', O: 'Strongroom Test', CN: 'Someone Else' }) }) },
  { code: 'issuer-mismatch', base: 'root', spec: (s) => ({ ...s, issuer: buildName({ CN: 'Not Me' }) }) },
  { code: 'signer-key-mismatch', base: 'intermediate', ctx: () => ({ signer: intSigner }) },
  { code: 'signer-key-mismatch', base: 'root', ctx: () => ({ signer: intSigner }) },
  {
    code: 'issuer-not-ca',
    base: 'intermediate',
    spec: (s) => ({
      ...swap(OID.authorityKeyIdentifier, () => authorityKeyIdentifier(keyIdentifier(eeKey.spki)))(s),
      issuer: issuerName(issuerInfo(endEntity.der)),
      notAfter: issuerInfo(endEntity.der).notAfter,
    }),
    ctx: () => ({ issuerCertificate: endEntity.der, signer: eeKey }),
  },
  {
    code: 'issuer-path-len-exceeded',
    base: 'intermediate',
    spec: (s) => ({ ...s, subject: buildName({ CN: 'A CA below a pathLen 0 CA' }), issuer: issuerName(issuerInfo(intermediate.der)), extensions: [...without(OID.authorityKeyIdentifier)(s).extensions, authorityKeyIdentifier(keyIdentifier(intSigner.spki))] }),
    ctx: () => ({ issuerCertificate: intermediate.der, signer: intSigner }),
  },
  { code: 'validity-inverted', base: 'root', spec: (s) => ({ ...s, notAfter: s.notBefore }) },
  { code: 'validity-too-long', base: 'intermediate', ctx: () => ({ maxValidityDays: 365 }) },
  { code: 'validity-too-long', base: 'ee', ctx: () => ({ maxValidityDays: 90 }) }, // 90 days + 1 s, inclusive
  { code: 'validity-outside-issuer', base: 'intermediate', spec: (s) => ({ ...s, notAfter: new Date('2046-01-01T00:00:00Z') }), ctx: () => ({ maxValidityDays: 9999 }) },
  { code: 'validity-outside-issuer', base: 'intermediate', spec: (s) => ({ ...s, notBefore: new Date('2025-12-31T23:59:59Z') }) },
  { code: 'validity-time-encoding', base: 'root', tbs: (t) => (t.validity.notAfter = new Time({ generalTime: new Date('2045-12-31T23:59:59Z') })) },
  { code: 'validity-time-encoding', base: 'root', tbs: (t) => (t.validity.notAfter = new Time({ generalTime: new Date('2055-12-31T23:59:59.500Z') })), ctx: () => ({ maxValidityDays: 99999 }) },
  { code: 'subject-empty', base: 'intermediate', spec: (s) => ({ ...s, subject: buildName({}) }), also: ['san-missing-for-empty-subject'] },
  { code: 'san-missing-for-empty-subject', base: 'ee', spec: (s) => without(OID.subjectAltName)({ ...s, subject: buildName({}) }) },
  { code: 'san-not-critical-for-empty-subject', base: 'ee', spec: (s) => ({ ...s, subject: buildName({}) }) },
  { code: 'unique-id-present', base: 'root', tbs: (t) => (t.subjectUniqueID = Uint8Array.from([1, 2]).buffer) },
  { code: 'extension-duplicate', base: 'intermediate', spec: add(() => subjectKeyIdentifier(intSigner.spki)) },
  { code: 'extension-unknown-critical', base: 'root', spec: add(() => raw('1.3.6.1.4.1.99999.42', true, Uint8Array.from([0x05, 0x00]))) },
  {
    code: 'extension-malformed',
    base: 'root',
    spec: swap(OID.basicConstraints, () => raw(OID.basicConstraints, true, Uint8Array.from([0x30, 0x05, 0x01]))),
    also: ['basic-constraints-missing', 'key-usage-cert-sign-without-ca'],
  },
  // cA FALSE written out: parses, but DER leaves a DEFAULT value out.
  { code: 'extension-malformed', base: 'ee', spec: add(() => raw(OID.basicConstraints, true, Uint8Array.from([0x30, 0x03, 0x01, 0x01, 0x00]))) },
  { code: 'basic-constraints-missing', base: 'root', spec: without(OID.basicConstraints), also: ['key-usage-cert-sign-without-ca'] },
  { code: 'basic-constraints-not-critical', base: 'intermediate', spec: swap(OID.basicConstraints, () => basicConstraints({ ca: true, pathLen: 0, critical: false })) },
  { code: 'basic-constraints-ca-mismatch', base: 'root', spec: swap(OID.basicConstraints, () => basicConstraints({ ca: false })), also: ['key-usage-cert-sign-without-ca'] },
  { code: 'basic-constraints-ca-mismatch', base: 'ee', spec: add(() => basicConstraints({ ca: true })), also: ['key-usage-ca-without-cert-sign'] },
  { code: 'path-len-without-ca', base: 'ee', spec: add(() => extension(OID.basicConstraints, true, new BasicConstraints({ cA: false, pathLenConstraint: 0 }))) },
  { code: 'path-len-without-ca', base: 'intermediate', spec: swap(OID.keyUsage, () => keyUsage(['cRLSign'])), also: ['key-usage-ca-without-cert-sign'] },
  { code: 'key-usage-missing', base: 'intermediate', spec: without(OID.keyUsage), also: ['path-len-without-ca'] },
  { code: 'key-usage-not-critical', base: 'root', spec: swap(OID.keyUsage, () => keyUsage(['keyCertSign', 'cRLSign'], { critical: false })) },
  { code: 'key-usage-empty', base: 'ee', spec: swap(OID.keyUsage, () => extension(OID.keyUsage, true, new KeyUsage())) },
  { code: 'key-usage-cert-sign-without-ca', base: 'ee', spec: swap(OID.keyUsage, () => keyUsage(['digitalSignature', 'keyCertSign'])) },
  { code: 'key-usage-ca-without-cert-sign', base: 'root', spec: swap(OID.keyUsage, () => keyUsage(['cRLSign'])) },
  { code: 'ski-missing', base: 'root', spec: without(OID.subjectKeyIdentifier) },
  { code: 'ski-critical', base: 'root', spec: swap(OID.subjectKeyIdentifier, () => extension(OID.subjectKeyIdentifier, true, new SubjectKeyIdentifier(keyIdentifier(rootSigner.spki)))) },
  { code: 'ski-mismatch', base: 'intermediate', spec: swap(OID.subjectKeyIdentifier, () => subjectKeyIdentifier(eeKey.spki)) },
  { code: 'aki-missing', base: 'intermediate', spec: without(OID.authorityKeyIdentifier) },
  { code: 'aki-critical', base: 'intermediate', spec: swap(OID.authorityKeyIdentifier, () => extension(OID.authorityKeyIdentifier, true, new AuthorityKeyIdentifier({ keyIdentifier: new OctetString(keyIdentifier(rootSigner.spki)) }))) },
  {
    code: 'aki-key-identifier-missing',
    base: 'intermediate',
    spec: swap(OID.authorityKeyIdentifier, () => extension(OID.authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ authorityCertSerialNumber: Uint8Array.from([1, 2, 3]).buffer }))),
  },
  { code: 'aki-mismatch', base: 'intermediate', spec: swap(OID.authorityKeyIdentifier, () => authorityKeyIdentifier(keyIdentifier(intSigner.spki))) },
  { code: 'aki-mismatch', base: 'root', spec: add(() => authorityKeyIdentifier(keyIdentifier(intSigner.spki))) },
  { code: 'name-constraints-not-ca', base: 'ee', spec: add(() => nameConstraints({ permitted: { dns: ['strongroom.test'] } })) },
];

async function lintRow(row: Row) {
  const { spec, ctx } = await base(row.base);
  const { tbs } = buildTbsCertificate(row.spec ? row.spec(spec) : spec);
  row.tbs?.(tbs);
  let der: Uint8Array = Uint8Array.from(Buffer.from(AsnConvert.serialize(tbs)));
  if (row.der) der = row.der(der);
  return lintCertificate(der, { ...ctx, ...(row.ctx?.() ?? {}) });
}

describe('lintCertificate: clean TBSs', () => {
  it.each<Base>(['root', 'intermediate', 'ee'])('a clean %s TBS has no findings', async (kind) => {
    const { spec, ctx } = await base(kind);
    expect(lintCertificate(buildTbsCertificate(spec).der, ctx)).toEqual([]);
  });

  it('a root may carry an AKI equal to its own SKI', async () => {
    const { spec, ctx } = await base('root');
    const withAki = add(() => authorityKeyIdentifier(keyIdentifier(rootSigner.spki)))(spec);
    expect(lintCertificate(buildTbsCertificate(withAki).der, ctx)).toEqual([]);
  });

  it('lints a TBSCertificate object the same as its DER', async () => {
    const { spec, ctx } = await base('intermediate');
    const built = buildTbsCertificate(spec);
    expect(lintCertificate(built.tbs, ctx)).toEqual(lintCertificate(built.der, ctx));
  });

  it('every finding code has a row below', () => {
    // Keeps the table honest when a rule is added: add its row.
    expect(new Set(ROWS.map((r) => r.code))).toEqual(new Set(CERTIFICATE_FINDING_CODES));
  });
});

describe('lintCertificate: each rule broken once', () => {
  it.each(ROWS.map((r, i) => [`${r.code} (${r.base} #${i})`, r] as const))('%s', async (_name, row) => {
    const findings = await lintRow(row);
    expect(findings.map((f) => f.code)).toContain(row.code);
    expect(findings.find((f) => f.code === row.code)!.severity).toBe('error');
    // Nothing else, apart from the findings that necessarily come with it: each row breaks exactly one thing.
    expect(new Set(findings.map((f) => f.code))).toEqual(new Set([row.code, ...(row.also ?? [])]));
  });
});

// The lint reads the TBS from its bytes (no schema round trip), so each DER rule it enforces is broken here once on
// the clean end-entity TBS: an encoding that reads but is not DER → tbs-not-der, a structure that is not a
// TBSCertificate → tbs-malformed, and nothing else is reported.
const ascii = (s: string) => [...Buffer.from(s, 'ascii')];
const DER_ROWS: [string, CertificateFindingCode, (der: Uint8Array) => Uint8Array][] = [
  ['a length in long form where the short one fits', 'tbs-not-der', (d) => rewriteDer(d, (t) => t.tag === 0x0c, (t) => Uint8Array.from([0x0c, 0x81, t.content.length, ...t.content]))],
  ['version v1 written out (the DEFAULT)', 'tbs-not-der', (d) => rewriteDer(d, (t) => t.tag === 0xa0, () => Uint8Array.from([0xa0, 0x03, 0x02, 0x01, 0x00]))],
  ['a UTCTime without seconds', 'tbs-not-der', (d) => rewriteDer(d, (t) => t.tag === 0x17, () => Uint8Array.from([0x17, 0x0b, ...ascii('2601010000Z')]))],
  ['a UTCTime of 30 February', 'tbs-not-der', (d) => rewriteDer(d, (t) => t.tag === 0x17, () => Uint8Array.from([0x17, 0x0d, ...ascii('260230000000Z')]))],
  ['a GeneralizedTime fraction with a trailing zero', 'tbs-not-der', (d) => rewriteDer(d, (t) => t.tag === 0x17, () => Uint8Array.from([0x18, 0x12, ...ascii('20260101000000.50Z')]))],
  ['a UTF8String that is not UTF-8', 'tbs-not-der', (d) => rewriteDer(d, (t) => t.tag === 0x0c, () => Uint8Array.from([0x0c, 0x02, 0xc3, 0x28]))],
  ['a BOOLEAN other than 00 or ff', 'tbs-not-der', (d) => rewriteDer(d, (t) => t.tag === 0x01, () => Uint8Array.from([0x01, 0x01, 0x01]))],
  ['trailing bytes after the TBS', 'tbs-malformed', (d) => Uint8Array.from([...d, 0x05, 0x00])],
  ['a validity with one time', 'tbs-malformed', (d) => rewriteDer(d, (t) => t.tag === 0x30 && t.content[0] === 0x17, (t) => encodeTlv(0x30, readTlv(t.content).bytes))],
  ['a notBefore that is not a Time', 'tbs-malformed', (d) => rewriteDer(d, (t) => t.tag === 0x17, (t) => encodeTlv(0x04, t.content))],
  ['an empty extensions list', 'tbs-malformed', (d) => rewriteDer(d, (t) => t.tag === 0xa3, () => Uint8Array.from([0xa3, 0x02, 0x30, 0x00]))],
  ['an extension without its value', 'tbs-malformed', (d) => rewriteDer(d, (t) => t.tag === 0x04, () => Uint8Array.from([0x05, 0x00]))],
  ['a subject RDN that is an empty SET', 'tbs-malformed', (d) => rewriteDer(d, (t) => t.tag === 0x31, () => Uint8Array.from([0x31, 0x00]))],
  ['a field after the extensions', 'tbs-malformed', (d) => rewriteDer(d, (t) => t.tag === 0xa3, (t) => Uint8Array.from([...t.bytes, 0x05, 0x00]))],
];

describe('lintCertificate: the DER it refuses', () => {
  it.each(DER_ROWS)('%s → %s', async (_name, code, breakIt) => {
    const { spec, ctx } = await base('ee');
    const findings = lintCertificate(breakIt(buildTbsCertificate(spec).der), ctx);
    expect(findings.map((f) => f.code)).toEqual([code]);
  });
});
