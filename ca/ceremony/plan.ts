/**
 * The plan shown to the operators before anything is signed: read back from the very TBS bytes that were linted
 * and will be signed (never from the config), so what the room approves is what the HSM signs.
 */
import { createInterface } from 'node:readline';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CertificatePolicies,
  CRLDistributionPoints,
  CRLReason,
  CRLReasons,
  ExtendedKeyUsage,
  id_ad_caIssuers,
  id_ad_ocsp,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
  id_ce_invalidityDate,
  InvalidityDate,
  KeyUsage,
  KeyUsageFlags,
  NameConstraints,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  type Extension,
  type GeneralName,
  type GeneralSubtrees,
} from '@peculiar/asn1-x509';
import { EXTENSION_OIDS, findSignatureAlgorithm, nameToString, parseSpki, parseTbsCertificate, parseTbsCrl } from '../x509/index.ts';
import { integerToBigint, readSingleTlv, toBytes } from '../x509/der.ts';
import { tbsFields } from '../x509/issuer.ts';
import { CeremonyError } from './errors.ts';
import { sha256Hex } from './transcript-entry.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const colonHex = (b: Uint8Array) => (hex(b).match(/../g) ?? []).join(':');
const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');

function generalName(g: GeneralName): string {
  if (g.uniformResourceIdentifier !== undefined) return `URI:${g.uniformResourceIdentifier}`;
  if (g.dNSName !== undefined) return `DNS:${g.dNSName}`;
  if (g.rfc822Name !== undefined) return `email:${g.rfc822Name}`;
  if (g.iPAddress !== undefined) return `IP:${g.iPAddress}`;
  if (g.directoryName !== undefined) return `DirName:${nameToString(g.directoryName)}`;
  return '(other name)';
}

function subtrees(s: GeneralSubtrees | undefined): string {
  return s ? [...s].map((t) => generalName(t.base)).join(', ') : '-';
}

const EXTENSION_NAMES: Record<string, string> = {
  ...Object.fromEntries(Object.entries(EXTENSION_OIDS).map(([name, oid]) => [oid, name])),
  [id_ce_cRLNumber]: 'cRLNumber',
};

/** "basicConstraints (critical): CA:TRUE, pathLen 0" — one line per extension, value decoded. */
export function describeExtension(e: Extension): string {
  const raw = toBytes(e.extnValue.buffer);
  const name = EXTENSION_NAMES[e.extnID] ?? e.extnID;
  let value: string;
  try {
    switch (e.extnID) {
      case EXTENSION_OIDS.basicConstraints: {
        const bc = AsnConvert.parse(raw, BasicConstraints);
        value = `CA:${bc.cA ? 'TRUE' : 'FALSE'}${bc.pathLenConstraint !== undefined ? `, pathLen ${bc.pathLenConstraint}` : ''}`;
        break;
      }
      case EXTENSION_OIDS.keyUsage: {
        const bits = AsnConvert.parse(raw, KeyUsage).toNumber() || 0;
        value = Object.entries(KeyUsageFlags)
          .filter(([k, v]) => typeof v === 'number' && Number.isNaN(Number(k)) && bits & v)
          .map(([k]) => k)
          .join(', ');
        break;
      }
      case EXTENSION_OIDS.subjectKeyIdentifier:
        value = colonHex(toBytes(AsnConvert.parse(raw, SubjectKeyIdentifier).buffer));
        break;
      case EXTENSION_OIDS.authorityKeyIdentifier: {
        const aki = AsnConvert.parse(raw, AuthorityKeyIdentifier);
        value = aki.keyIdentifier ? `keyid ${colonHex(toBytes(aki.keyIdentifier.buffer))}` : '(no key identifier)';
        break;
      }
      case EXTENSION_OIDS.cRLDistributionPoints:
        value = [...AsnConvert.parse(raw, CRLDistributionPoints)].flatMap((dp) => (dp.distributionPoint?.fullName ?? []).map(generalName)).join(', ');
        break;
      case EXTENSION_OIDS.authorityInfoAccess:
        value = [...AsnConvert.parse(raw, AuthorityInfoAccessSyntax)]
          .map((a) => `${a.accessMethod === id_ad_ocsp ? 'OCSP' : a.accessMethod === id_ad_caIssuers ? 'caIssuers' : a.accessMethod} ${generalName(a.accessLocation)}`)
          .join(', ');
        break;
      case EXTENSION_OIDS.nameConstraints: {
        const nc = AsnConvert.parse(raw, NameConstraints);
        value = `permitted: ${subtrees(nc.permittedSubtrees)}; excluded: ${subtrees(nc.excludedSubtrees)}`;
        break;
      }
      case EXTENSION_OIDS.certificatePolicies:
        value = [...AsnConvert.parse(raw, CertificatePolicies)].map((p) => p.policyIdentifier).join(', ');
        break;
      case EXTENSION_OIDS.extKeyUsage:
        value = [...AsnConvert.parse(raw, ExtendedKeyUsage)].join(', ');
        break;
      case EXTENSION_OIDS.subjectAltName:
        value = [...AsnConvert.parse(raw, SubjectAlternativeName)].map(generalName).join(', ');
        break;
      case id_ce_cRLNumber:
        value = integerToBigint(readSingleTlv(raw).content).toString();
        break;
      default:
        value = `${raw.length} bytes: ${hex(raw)}`;
    }
  } catch {
    value = `(does not decode) ${hex(raw)}`;
  }
  return `${name}${e.critical ? ' (critical)' : ''}: ${value}`;
}

function keyDescription(spki: Uint8Array): string {
  try {
    return parseSpki(spki).keyType ?? 'unrecognised key';
  } catch {
    return 'unreadable key';
  }
}

/** The certificate plan: every field an operator should check, read back from the TBS DER. */
export function describeTbsCertificate(der: Uint8Array): string[] {
  const tbs = parseTbsCertificate(der);
  const spki = toBytes(tbsFields(der).spki.bytes);
  const lines = [
    `  subject (RFC 4514):  ${nameToString(tbs.subject)}`,
    `  issuer (RFC 4514):   ${nameToString(tbs.issuer)}`,
    `  serial:              ${integerToBigint(toBytes(tbs.serialNumber)).toString(16)}`,
    `  not before:          ${iso(tbs.validity.notBefore.getTime())}`,
    `  not after:           ${iso(tbs.validity.notAfter.getTime())}`,
    `  subject public key:  ${keyDescription(spki)}, SPKI sha256 ${sha256Hex(spki)}`,
    `  signature algorithm: ${findSignatureAlgorithm(tbs.signature) ?? tbs.signature.algorithm}`,
    `  extensions:`,
    ...(tbs.extensions ?? []).map((e) => `    - ${describeExtension(e)}`),
    `  TBS sha256:          ${sha256Hex(der)}`,
  ];
  return lines;
}

export function describeTbsCrl(der: Uint8Array): string[] {
  const tbs = parseTbsCrl(der);
  const revoked = tbs.revokedCertificates ?? [];
  return [
    `  issuer (RFC 4514):   ${nameToString(tbs.issuer)}`,
    `  this update:         ${iso(tbs.thisUpdate.getTime())}`,
    `  next update:         ${tbs.nextUpdate ? iso(tbs.nextUpdate.getTime()) : '(none)'}`,
    `  signature algorithm: ${findSignatureAlgorithm(tbs.signature) ?? tbs.signature.algorithm}`,
    `  extensions:`,
    ...(tbs.crlExtensions ?? []).map((e) => `    - ${describeExtension(e)}`),
    `  revoked certificates: ${revoked.length === 0 ? 'none' : revoked.length}`,
    ...revoked.map((r) => {
      const ext = (oid: string) => r.crlEntryExtensions?.find((x) => x.extnID === oid);
      const reasonExt = ext(id_ce_cRLReasons);
      const reason = reasonExt ? CRLReasons[AsnConvert.parse(reasonExt.extnValue.buffer, CRLReason).reason] : 'unspecified (no reasonCode)';
      const inv = ext(id_ce_invalidityDate);
      const invalidity = inv ? `, invalid since ${iso(AsnConvert.parse(inv.extnValue.buffer, InvalidityDate).value)}` : '';
      return `    - serial ${integerToBigint(toBytes(r.userCertificate)).toString(16)} revoked ${iso(r.revocationDate.getTime())}, reason ${reason}${invalidity}`;
    }),
    `  TBS sha256:          ${sha256Hex(der)}`,
  ];
}

export type Confirm = (question: string) => Promise<boolean>;

/** Asks on the terminal; only "yes" proceeds. Refuses when there is no terminal (scripted runs pass --yes). */
export const terminalConfirm: Confirm = async (question) => {
  if (!process.stdin.isTTY) throw new CeremonyError('refused', undefined, 'no terminal to confirm the plan on: review it and pass --yes for a scripted run');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(`${question} Type "yes" to proceed: `, resolve));
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
};

/** Prints the plan, then asks unless `yes`; a "no" cancels with nothing signed. */
export async function confirmPlan(out: (line: string) => void, title: string, lines: string[], options: { yes: boolean; confirm: Confirm; action: string }): Promise<void> {
  out('');
  out(title);
  for (const l of lines) out(l);
  out('');
  if (options.yes) {
    out(`--yes given: ${options.action} without asking.`);
    return;
  }
  if (!(await options.confirm(`${options.action[0]!.toUpperCase()}${options.action.slice(1)}?`))) {
    throw new CeremonyError('cancelled', undefined, `cancelled by the operators: nothing was ${options.action.startsWith('generate') ? 'generated' : 'signed'}`);
  }
}
