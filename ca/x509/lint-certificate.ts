/**
 * The lint between building and signing a certificate: RFC 5280's rules for what a CA must produce, plus the
 * ceremony checks Boulder makes (the key about to sign is the issuer certificate's key; the algorithm is the one
 * that key will use). It reads the DER that will be signed — an object is encoded first — so what passes here is
 * exactly what the HSM sees.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CertificatePolicies,
  CRLDistributionPoints,
  ExtendedKeyUsage,
  KeyUsage,
  KeyUsageFlags,
  NameConstraints,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  type TBSCertificate,
} from '@peculiar/asn1-x509';
import { bytesEqual, toBytes } from './der.ts';
import type { Finding } from './errors.ts';
import { EXTENSION_OIDS as OID, keyIdentifier } from './extensions.ts';
import { asn1Parser, extensionOf, readExtensions, type ExtensionParser, type ReadExtensions } from './extension-reader.ts';
import { cachedIssuerInfo, type IssuerInfo } from './issuer.ts';
import { checkSignatureAlgorithm, Findings, type LintSigner } from './lint-common.ts';
import { checkSerial } from './serial.ts';
import { readTbsCertificate, TbsReadError, type TbsView } from './tbs-reader.ts';
import { rawTimeProblem } from './time.ts';

/** Every code lintCertificate can report; the type is derived from this list so tests can enumerate it. */
export const CERTIFICATE_FINDING_CODES = [
  'tbs-malformed',
  'tbs-not-der',
  'version-not-v3',
  'serial-not-minimal',
  'serial-not-positive',
  'serial-too-long',
  'serial-low-entropy',
  'signature-algorithm-unsupported',
  'signature-algorithm-mismatch',
  'signature-algorithm-key-mismatch',
  'issuer-mismatch',
  'signer-key-mismatch',
  'issuer-not-ca',
  'issuer-path-len-exceeded',
  'validity-inverted',
  'validity-too-long',
  'validity-outside-issuer',
  'validity-time-encoding',
  'subject-empty',
  'san-missing-for-empty-subject',
  'san-not-critical-for-empty-subject',
  'unique-id-present',
  'extension-duplicate',
  'extension-unknown-critical',
  'extension-malformed',
  'basic-constraints-missing',
  'basic-constraints-not-critical',
  'basic-constraints-ca-mismatch',
  'path-len-without-ca',
  'key-usage-missing',
  'key-usage-not-critical',
  'key-usage-empty',
  'key-usage-cert-sign-without-ca',
  'key-usage-ca-without-cert-sign',
  'ski-missing',
  'ski-critical',
  'ski-mismatch',
  'aki-missing',
  'aki-critical',
  'aki-key-identifier-missing',
  'aki-mismatch',
  'name-constraints-not-ca',
] as const;

export type CertificateFindingCode = (typeof CERTIFICATE_FINDING_CODES)[number];

export interface CertificateLintContext {
  /** The key that will sign: its public key, type and algorithm. */
  signer: LintSigner;
  /**
   * DER of the issuer's certificate; omit it for a self-signed root, which is its own issuer. An issuer
   * certificate that does not parse is an X509Error, not a finding: the ceremony's input is wrong, not the TBS.
   */
  issuerCertificate?: Uint8Array;
  /** What the profile means to issue: a CA certificate (root, intermediate, cross) or not. */
  ca: boolean;
  /** Inclusive of both ends, as RFC 5280 counts validity. */
  maxValidityDays: number;
}

const KNOWN = new Map<string, ExtensionParser>(
  (
    [
      [OID.basicConstraints, BasicConstraints],
      [OID.keyUsage, KeyUsage],
      [OID.extKeyUsage, ExtendedKeyUsage],
      [OID.subjectKeyIdentifier, SubjectKeyIdentifier],
      [OID.authorityKeyIdentifier, AuthorityKeyIdentifier],
      [OID.cRLDistributionPoints, CRLDistributionPoints],
      [OID.authorityInfoAccess, AuthorityInfoAccessSyntax],
      [OID.nameConstraints, NameConstraints],
      [OID.certificatePolicies, CertificatePolicies],
      [OID.subjectAltName, SubjectAlternativeName],
    ] as const
  ).map(([oid, type]) => [oid, asn1Parser(type)]),
);

const DAY_MS = 86_400_000;

export function lintCertificate(input: Uint8Array | TBSCertificate, ctx: CertificateLintContext): Finding<CertificateFindingCode>[] {
  const f = new Findings<CertificateFindingCode>();
  const der = input instanceof Uint8Array ? input : toBytes(AsnConvert.serialize(input));
  // Everything below reads these bytes as they will be signed: the reader refuses what is not their one DER form.
  let tbs: TbsView;
  try {
    tbs = readTbsCertificate(der);
  } catch (e) {
    f.add(e instanceof TbsReadError && e.problem === 'not-der' ? 'tbs-not-der' : 'tbs-malformed', (e as Error).message);
    return f.list;
  }
  if (tbs.version !== 2) f.add('version-not-v3', `version ${tbs.version + 1}; extensions need v3`);

  for (const p of checkSerial(tbs.serial)) f.add(p.code, p.message);
  for (const p of checkSignatureAlgorithm(tbs.signature, ctx.signer)) f.add(p.code, p.message);

  const issuer = ctx.issuerCertificate ? cachedIssuerInfo(ctx.issuerCertificate) : undefined;
  checkIssuer(f, ctx, tbs, issuer);
  checkValidity(f, tbs, ctx, issuer);
  if (tbs.issuerUniqueId || tbs.subjectUniqueId) f.add('unique-id-present', 'conforming CAs must not generate unique identifiers (RFC 5280 §4.1.2.8)');

  const read = readExtensions(tbs.extensions, KNOWN);
  for (const p of read.problems) f.add(p.code, p.message);
  checkSubject(f, tbs, ctx, read);
  checkCaConstraints(f, ctx, read);
  checkKeyIdentifiers(f, ctx, read, keyIdentifier(toBytes(tbs.spki.bytes)), issuer);
  return f.list;
}

function checkSubject(f: Findings<CertificateFindingCode>, tbs: TbsView, ctx: CertificateLintContext, read: ReadExtensions): void {
  if (tbs.subject.content.length > 0) return;
  if (ctx.ca) f.add('subject-empty', 'a CA certificate needs a non-empty subject (RFC 5280 §4.1.2.6)');
  const san = extensionOf<SubjectAlternativeName>(read, OID.subjectAltName);
  if (!san) f.add('san-missing-for-empty-subject', 'an empty subject needs a subjectAltName');
  else if (!san.critical) f.add('san-not-critical-for-empty-subject', 'with an empty subject, subjectAltName must be critical');
}

/** basicConstraints, keyUsage and nameConstraints: what makes a certificate a CA, and consistently so. */
function checkCaConstraints(f: Findings<CertificateFindingCode>, ctx: CertificateLintContext, read: ReadExtensions): void {
  const bc = extensionOf<BasicConstraints>(read, OID.basicConstraints);
  const ku = extensionOf<KeyUsage>(read, OID.keyUsage);
  const isCa = bc?.value.cA ?? false;
  // toNumber() of a zero-length BIT STRING is NaN: count that as no bits.
  const bits = ku ? ku.value.toNumber() || 0 : undefined;
  const certSign = bits !== undefined && (bits & KeyUsageFlags.keyCertSign) !== 0;
  if (ctx.ca && !bc) f.add('basic-constraints-missing', 'a CA certificate needs basicConstraints');
  if (ctx.ca && bc && !bc.critical) f.add('basic-constraints-not-critical', 'basicConstraints must be critical in a CA certificate');
  if (bc && isCa !== ctx.ca) f.add('basic-constraints-ca-mismatch', `basicConstraints says cA ${isCa}, the profile issues ${ctx.ca ? 'a CA' : 'an end-entity'} certificate`);
  if (bc?.value.pathLenConstraint !== undefined && !(isCa && certSign)) f.add('path-len-without-ca', 'pathLenConstraint needs cA TRUE and keyCertSign');

  if (ctx.ca && !ku) f.add('key-usage-missing', 'a CA certificate needs keyUsage with keyCertSign');
  if (ctx.ca && ku && !ku.critical) f.add('key-usage-not-critical', 'keyUsage must be critical in a CA certificate');
  if (ku && bits === 0) f.add('key-usage-empty', 'keyUsage with no bit set');
  if (certSign && !isCa) f.add('key-usage-cert-sign-without-ca', 'keyCertSign without basicConstraints cA TRUE');
  if (isCa && ku && !certSign) f.add('key-usage-ca-without-cert-sign', 'cA TRUE without keyCertSign');

  if (read.byOid.has(OID.nameConstraints) && !ctx.ca) f.add('name-constraints-not-ca', 'nameConstraints belongs only in CA certificates');
}

/** SKI is method 1 over the subject key; AKI is the issuer's key identifier (a self-signed root's own). */
function checkKeyIdentifiers(f: Findings<CertificateFindingCode>, ctx: CertificateLintContext, read: ReadExtensions, subjectKeyId: Uint8Array, issuer: IssuerInfo | undefined): void {
  const ski = extensionOf<SubjectKeyIdentifier>(read, OID.subjectKeyIdentifier);
  if (ctx.ca && !ski) f.add('ski-missing', 'a CA certificate needs subjectKeyIdentifier');
  if (ski?.critical) f.add('ski-critical', 'subjectKeyIdentifier must not be critical');
  if (ski && !bytesEqual(toBytes(ski.value.buffer), subjectKeyId)) f.add('ski-mismatch', 'subjectKeyIdentifier is not the SHA-1 of the subject public key (method 1)');

  const aki = extensionOf<AuthorityKeyIdentifier>(read, OID.authorityKeyIdentifier);
  // Optional on a self-signed root (RFC 5280 §4.2.1.1), required everywhere else.
  if (!aki && issuer) f.add('aki-missing', 'a certificate not self-signed needs authorityKeyIdentifier');
  if (aki?.critical) f.add('aki-critical', 'authorityKeyIdentifier must not be critical');
  if (aki && !aki.value.keyIdentifier) f.add('aki-key-identifier-missing', 'authorityKeyIdentifier without keyIdentifier');
  if (aki?.value.keyIdentifier) {
    const expected = issuer ? issuer.keyIdentifier : ski ? toBytes(ski.value.buffer) : subjectKeyId;
    if (!bytesEqual(toBytes(aki.value.keyIdentifier.buffer), expected)) f.add('aki-mismatch', "authorityKeyIdentifier is not the issuer's key identifier");
  }
}

function checkIssuer(f: Findings<CertificateFindingCode>, ctx: CertificateLintContext, raw: TbsView, issuer: IssuerInfo | undefined): void {
  const issuerName = issuer ? issuer.subjectDer : raw.subject.bytes;
  const issuerKey = issuer ? issuer.spki : raw.spki.bytes;
  if (!bytesEqual(raw.issuer.bytes, issuerName)) {
    f.add('issuer-mismatch', issuer ? "issuer is not the issuer certificate's subject, byte for byte" : 'a self-signed certificate must name its own subject as issuer');
  }
  // Boulder's ceremony check: the HSM key must be the issuer certificate's key, or the result verifies nowhere.
  if (!bytesEqual(ctx.signer.spki, issuerKey)) {
    f.add('signer-key-mismatch', issuer ? "the signing key is not the issuer certificate's key" : "the signing key is not the certificate's own key");
  }
  if (!issuer) return;
  const usage = issuer.keyUsage;
  if (!issuer.ca || (usage !== undefined && !(usage & KeyUsageFlags.keyCertSign))) f.add('issuer-not-ca', 'the issuer certificate may not sign certificates');
  const selfIssued = bytesEqual(raw.issuer.bytes, raw.subject.bytes);
  if (ctx.ca && issuer.pathLen === 0 && !selfIssued) f.add('issuer-path-len-exceeded', "the issuer's pathLenConstraint 0 allows no CA below it");
}

function checkValidity(f: Findings<CertificateFindingCode>, tbs: TbsView, ctx: CertificateLintContext, issuer: IssuerInfo | undefined): void {
  const { notBefore, notAfter } = tbs;
  for (const t of [notBefore, notAfter]) {
    const problem = rawTimeProblem(t);
    if (problem) f.add('validity-time-encoding', problem);
  }
  const from = notBefore.date.getTime();
  const to = notAfter.date.getTime();
  if (from >= to) f.add('validity-inverted', 'notBefore is not before notAfter');
  // RFC 5280 §4.1.2.5: the period includes both notBefore and notAfter, hence the extra second.
  const lengthMs = to - from + 1000;
  if (lengthMs > ctx.maxValidityDays * DAY_MS) f.add('validity-too-long', `validity of ${(lengthMs / DAY_MS).toFixed(2)} days; at most ${ctx.maxValidityDays}`);
  if (issuer && (from < issuer.notBefore.getTime() || to > issuer.notAfter.getTime())) {
    f.add('validity-outside-issuer', "validity reaches outside the issuer certificate's validity");
  }
}
