/**
 * The lint between building and signing a CRL: RFC 5280 §5 rules, plus what keeps relying parties from
 * discarding it — a CRL number above the last one published, a nextUpdate that is neither missing nor too far.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  CRLDistributionPoints,
  CRLReason,
  CRLReasons,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  id_ce_deltaCRLIndicator,
  id_ce_freshestCRL,
  id_ce_cRLReasons,
  id_ce_invalidityDate,
  InvalidityDate,
  KeyUsageFlags,
  type TBSCertList,
  Version,
} from '@peculiar/asn1-x509';
import { bytesEqual, children, integerToBigint, isMinimalInteger, readSingleTlv, TAG_GENERALIZED_TIME, TAG_INTEGER, TAG_SEQUENCE, TAG_UTC_TIME, toBytes, type Tlv } from './der.ts';
import { X509Error, type Finding } from './errors.ts';
import { asn1Parser, extensionOf, fromSchema, readExtensions, type ExtensionParser } from './extension-reader.ts';
import { issuerInfo } from './issuer.ts';
import { checkSignatureAlgorithm, Findings, type LintSigner } from './lint-common.ts';
import { checkSerial } from './serial.ts';
import { parseTbsCrl } from './tbs-crl.ts';
import { timeEncodingProblem } from './time.ts';

/** Every code lintCrl can report. */
export const CRL_FINDING_CODES = [
  'crl-tbs-malformed',
  'crl-tbs-not-der',
  'crl-version-not-v2',
  'crl-signature-algorithm-unsupported',
  'crl-signature-algorithm-mismatch',
  'crl-signature-algorithm-key-mismatch',
  'crl-issuer-mismatch',
  'crl-signer-key-mismatch',
  'crl-issuer-cannot-sign-crls',
  'crl-time-encoding',
  'crl-next-update-missing',
  'crl-next-update-not-after-this-update',
  'crl-validity-too-long',
  'crl-extension-duplicate',
  'crl-extension-unknown-critical',
  'crl-extension-malformed',
  'crl-entry-extension-duplicate',
  'crl-entry-extension-unknown-critical',
  'crl-entry-extension-malformed',
  'crl-number-missing',
  'crl-number-critical',
  'crl-number-not-positive',
  'crl-number-too-long',
  'crl-number-not-increasing',
  'crl-delta-indicator-not-critical',
  'crl-delta-base-not-below-number',
  'crl-delta-mismatch',
  'crl-freshest-critical',
  'crl-aki-missing',
  'crl-aki-mismatch',
  'crl-revoked-list-empty',
  'crl-entry-serial-invalid',
  'crl-duplicate-serial',
  'crl-revocation-after-this-update',
  'crl-reason-unspecified',
  'crl-reason-invalid',
  'crl-invalidity-date-after-revocation',
] as const;

export type CrlFindingCode = (typeof CRL_FINDING_CODES)[number];

export interface CrlLintContext {
  signer: LintSigner;
  /** DER of the issuing CA's certificate (a root's CRL: the root itself). */
  issuerCertificate: Uint8Array;
  /** The longest nextUpdate − thisUpdate allowed, in days. */
  maxValidityDays: number;
  /** The highest CRL number this issuer has published; the new one must be greater. */
  previousCrlNumber?: bigint;
  /** A delta CRL is being made, of the complete CRL with this number; absent: a complete CRL. */
  deltaOf?: bigint;
}

/** cRLNumber by hand: the @peculiar class holds a JavaScript number and would not round-trip 20 octets. */
const parseCrlNumber: ExtensionParser = (raw) => {
  const tlv = readSingleTlv(raw);
  if (tlv.tag !== TAG_INTEGER) throw new Error('not an INTEGER');
  return { content: tlv.content };
};

const KNOWN = new Map<string, ExtensionParser>([
  [id_ce_cRLNumber, parseCrlNumber],
  [id_ce_deltaCRLIndicator, parseCrlNumber],
  [id_ce_freshestCRL, asn1Parser(CRLDistributionPoints)],
  [id_ce_authorityKeyIdentifier, asn1Parser(AuthorityKeyIdentifier)],
]);
const KNOWN_ENTRY = new Map<string, ExtensionParser>([
  [id_ce_cRLReasons, asn1Parser(CRLReason)],
  [id_ce_invalidityDate, asn1Parser(InvalidityDate)],
]);

const DAY_MS = 86_400_000;
const MAX_NUMBER_OCTETS = 20;

export function lintCrl(input: Uint8Array | TBSCertList, ctx: CrlLintContext): Finding<CrlFindingCode>[] {
  const f = new Findings<CrlFindingCode>();
  const der = input instanceof Uint8Array ? input : toBytes(AsnConvert.serialize(input));
  let tbs: TBSCertList;
  let raw: ReturnType<typeof rawFields>;
  try {
    tbs = parseTbsCrl(der);
    raw = rawFields(der);
  } catch (e) {
    f.add('crl-tbs-malformed', (e as Error).message);
    return f.list;
  }
  // This also catches @peculiar/asn1-x509 2.11 misreading a TBSCertList: without nextUpdate it drops the revoked
  // entries, and it reads an empty list as none. Whatever the object says, these bytes are what would be signed.
  if (!bytesEqual(toBytes(AsnConvert.serialize(tbs)), der)) f.add('crl-tbs-not-der', 'the TBS does not re-encode to the same bytes');
  if (tbs.version !== Version.v2) f.add('crl-version-not-v2', 'a CRL with extensions must be v2');
  for (const p of checkSignatureAlgorithm(tbs.signature, ctx.signer)) f.add(`crl-${p.code}`, p.message);

  const issuer = issuerInfo(ctx.issuerCertificate);
  if (!bytesEqual(raw.issuer, issuer.subjectDer)) f.add('crl-issuer-mismatch', "issuer is not the issuer certificate's subject, byte for byte");
  if (!bytesEqual(ctx.signer.spki, issuer.spki)) f.add('crl-signer-key-mismatch', "the signing key is not the issuer certificate's key");
  if (issuer.keyUsage !== undefined && !(issuer.keyUsage & KeyUsageFlags.cRLSign)) f.add('crl-issuer-cannot-sign-crls', 'the issuer certificate lacks cRLSign');

  checkUpdates(f, tbs, ctx.maxValidityDays);

  const read = readExtensions(fromSchema(tbs.crlExtensions), KNOWN);
  for (const p of read.problems) f.add(`crl-${p.code}`, p.message);
  const number = checkNumber(f, extensionOf<{ content: Uint8Array }>(read, id_ce_cRLNumber), ctx.previousCrlNumber);
  checkDelta(f, extensionOf<{ content: Uint8Array }>(read, id_ce_deltaCRLIndicator), number, ctx.deltaOf);
  if (extensionOf(read, id_ce_freshestCRL)?.critical) f.add('crl-freshest-critical', 'freshestCRL must not be critical (RFC 5280 §5.2.6)');
  const aki = extensionOf<AuthorityKeyIdentifier>(read, id_ce_authorityKeyIdentifier);
  if (!aki) f.add('crl-aki-missing', 'conforming CRLs carry authorityKeyIdentifier (RFC 5280 §5.2.1)');
  else if (!aki.value.keyIdentifier || !bytesEqual(toBytes(aki.value.keyIdentifier.buffer), issuer.keyIdentifier)) {
    f.add('crl-aki-mismatch', "authorityKeyIdentifier is not the issuer's key identifier");
  }

  if (raw.revoked && raw.revoked.content.length === 0) f.add('crl-revoked-list-empty', 'an empty revokedCertificates list must be absent');
  checkEntries(f, tbs);
  return f.list;
}

/** thisUpdate / nextUpdate: relying parties treat a CRL past nextUpdate as stale, and without one as never stale. */
function checkUpdates(f: Findings<CrlFindingCode>, tbs: TBSCertList, maxValidityDays: number): void {
  const thisUpdate = tbs.thisUpdate.getTime().getTime();
  for (const t of [tbs.thisUpdate, tbs.nextUpdate]) {
    const problem = t && timeEncodingProblem(t);
    if (problem) f.add('crl-time-encoding', problem);
  }
  if (!tbs.nextUpdate) {
    f.add('crl-next-update-missing', 'conforming CAs must include nextUpdate (RFC 5280 §5.1.2.5)');
    return;
  }
  const nextUpdate = tbs.nextUpdate.getTime().getTime();
  if (nextUpdate <= thisUpdate) f.add('crl-next-update-not-after-this-update', 'nextUpdate is not after thisUpdate');
  if (nextUpdate - thisUpdate > maxValidityDays * DAY_MS) f.add('crl-validity-too-long', `nextUpdate more than ${maxValidityDays} days after thisUpdate`);
}

/** The issuer and the revokedCertificates TLV, read from the bytes (see above for why not from the object). */
function rawFields(der: Uint8Array): { issuer: Uint8Array; revoked: Tlv | undefined } {
  const fields = children(readSingleTlv(der));
  const at = fields[0]?.tag === TAG_INTEGER ? 1 : 0; // optional version
  const issuer = fields[at + 1];
  if (!issuer) throw new X509Error('der', 'TBSCertList has too few fields');
  let next = at + 3; // past signature, issuer, thisUpdate
  if (fields[next]?.tag === TAG_UTC_TIME || fields[next]?.tag === TAG_GENERALIZED_TIME) next++; // nextUpdate
  return { issuer: issuer.bytes, revoked: fields[next]?.tag === TAG_SEQUENCE ? fields[next] : undefined };
}

/** Returns the CRL's number when it is readable. */
function checkNumber(f: Findings<CrlFindingCode>, ext: { critical: boolean; value: { content: Uint8Array } } | undefined, previous: bigint | undefined): bigint | undefined {
  if (!ext) {
    f.add('crl-number-missing', 'conforming CRLs carry cRLNumber (RFC 5280 §5.2.3)');
    return undefined;
  }
  if (ext.critical) f.add('crl-number-critical', 'cRLNumber must not be critical');
  const { content } = ext.value;
  if (content.length > MAX_NUMBER_OCTETS) f.add('crl-number-too-long', `cRLNumber of ${content.length} octets; at most ${MAX_NUMBER_OCTETS}`);
  if (!isMinimalInteger(content)) {
    f.add('crl-number-not-positive', 'cRLNumber is not a minimal INTEGER');
    return undefined;
  }
  const n = integerToBigint(content);
  if (n <= 0n) f.add('crl-number-not-positive', `cRLNumber ${n}`);
  // Relying parties keep the CRL with the highest number: an equal or lower one would be ignored or, worse,
  // replace a newer list in caches that do not compare.
  if (previous !== undefined && n <= previous) f.add('crl-number-not-increasing', `cRLNumber ${n} is not greater than the previous ${previous}`);
  return n;
}

/**
 * deltaCRLIndicator (RFC 5280 §5.2.4): critical, so that a relying party that does not understand deltas rejects
 * the CRL rather than take a short list for a complete one; its base below the delta's own number (delta and
 * complete CRLs share one sequence); and there exactly when the caller meant to make a delta, of that base.
 */
function checkDelta(f: Findings<CrlFindingCode>, ext: { critical: boolean; value: { content: Uint8Array } } | undefined, number: bigint | undefined, expected: bigint | undefined): void {
  if (!ext) {
    if (expected !== undefined) f.add('crl-delta-mismatch', `a delta CRL of ${expected} was meant, and the CRL has no deltaCRLIndicator`);
    return;
  }
  if (!ext.critical) f.add('crl-delta-indicator-not-critical', 'deltaCRLIndicator must be critical');
  const base = isMinimalInteger(ext.value.content) ? integerToBigint(ext.value.content) : undefined;
  if (base === undefined || base <= 0n) f.add('crl-delta-mismatch', 'the base CRL number is not a positive INTEGER');
  else {
    if (number !== undefined && base >= number) f.add('crl-delta-base-not-below-number', `base CRL number ${base} is not below the CRL's own number ${number}`);
    if (expected === undefined) f.add('crl-delta-mismatch', 'a complete CRL was meant, and the CRL carries deltaCRLIndicator');
    else if (base !== expected) f.add('crl-delta-mismatch', `base CRL number ${base}, ${expected} was meant`);
  }
}

function checkEntries(f: Findings<CrlFindingCode>, tbs: TBSCertList): void {
  const thisUpdate = tbs.thisUpdate.getTime().getTime();
  const seen = new Set<string>();
  for (const e of tbs.revokedCertificates ?? []) {
    const serial = toBytes(e.userCertificate);
    const hex = Buffer.from(serial).toString('hex');
    for (const p of checkSerial(serial, { minOctets: 1 })) f.add('crl-entry-serial-invalid', `${hex}: ${p.message}`);
    if (seen.has(hex)) f.add('crl-duplicate-serial', `serial ${hex} is listed twice`);
    seen.add(hex);
    const revoked = e.revocationDate.getTime().getTime();
    const problem = timeEncodingProblem(e.revocationDate);
    if (problem) f.add('crl-time-encoding', `${hex}: ${problem}`);
    if (revoked > thisUpdate) f.add('crl-revocation-after-this-update', `${hex} revoked after thisUpdate`);

    const read = readExtensions(fromSchema(e.crlEntryExtensions), KNOWN_ENTRY);
    for (const p of read.problems) f.add(`crl-entry-${p.code}`, `${hex}: ${p.message}`);
    const reason = extensionOf<CRLReason>(read, id_ce_cRLReasons)?.value.reason;
    if (reason === CRLReasons.unspecified) f.add('crl-reason-unspecified', `${hex}: leave reasonCode out rather than say unspecified`, 'warning');
    else if (reason !== undefined && (CRLReasons[reason] === undefined || reason === CRLReasons.removeFromCRL)) {
      f.add('crl-reason-invalid', `${hex}: reasonCode ${reason} is not allowed in a complete CRL`);
    }
    const invalidity = extensionOf<InvalidityDate>(read, id_ce_invalidityDate)?.value.value;
    if (invalidity && invalidity.getTime() > revoked) f.add('crl-invalidity-date-after-revocation', `${hex}: invalidityDate after revocationDate`);
  }
}
