/**
 * The CSR's attributes and its extension request (PKCS#9 extensionRequest). Requested extensions are recorded for
 * the audit log and otherwise ignored: the certificate carries only what the profile says, so a CSR asking for
 * CA:TRUE, keyCertSign or name constraints parses fine. What is refused (bad_csr): an extension value that does not
 * parse or is not DER, the same extension twice, more than one extension request, more than 64 extensions, more
 * than 1024 DER elements in the subjectAltName or 512 in all other extension values together, and a critical
 * extension we do not know — a requester that marks something critical says the certificate is useless without
 * it, and we will not put it there.
 */
import {
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CertificatePolicies,
  CRLDistributionPoints,
  ExtendedKeyUsage,
  InhibitAnyPolicy,
  IssueAlternativeName,
  KeyUsage,
  NameConstraints,
  PolicyConstraints,
  PolicyMappings,
  SubjectDirectoryAttributes,
  SubjectInfoAccessSyntax,
  SubjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { asn1Parser, type ExtensionParser } from '../x509/extension-reader.ts';
import { checkDer, childrenOf, expectChildren, oidOf, tlvOf, type ElementBudget, type Tlv } from './der.ts';
import { badCsr } from './errors.ts';
import { readExtensionList } from './extension-list.ts';
import { decodeSan, emptyRequestedNames, type RequestedNames } from './names.ts';

export const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
export const OID_SUBJECT_ALT_NAME = '2.5.29.17';
export const MAX_EXTENSIONS = 64;

interface KnownExtension {
  name: string;
  /** Parses and insists on DER; undefined = only the generic DER walk. */
  parse?: ExtensionParser;
}

export const KNOWN_EXTENSIONS: ReadonlyMap<string, KnownExtension> = new Map<string, KnownExtension>([
  ['2.5.29.9', { name: 'subjectDirectoryAttributes', parse: asn1Parser(SubjectDirectoryAttributes) }],
  ['2.5.29.14', { name: 'subjectKeyIdentifier', parse: asn1Parser(SubjectKeyIdentifier) }],
  ['2.5.29.15', { name: 'keyUsage', parse: asn1Parser(KeyUsage) }],
  // Decoded by names.ts from the raw bytes, not by the library (which is lossy and slow on long lists).
  [OID_SUBJECT_ALT_NAME, { name: 'subjectAltName' }],
  ['2.5.29.18', { name: 'issuerAltName', parse: asn1Parser(IssueAlternativeName) }],
  ['2.5.29.19', { name: 'basicConstraints', parse: asn1Parser(BasicConstraints) }],
  ['2.5.29.30', { name: 'nameConstraints', parse: asn1Parser(NameConstraints) }],
  ['2.5.29.31', { name: 'cRLDistributionPoints', parse: asn1Parser(CRLDistributionPoints) }],
  ['2.5.29.32', { name: 'certificatePolicies', parse: asn1Parser(CertificatePolicies) }],
  ['2.5.29.33', { name: 'policyMappings', parse: asn1Parser(PolicyMappings) }],
  ['2.5.29.35', { name: 'authorityKeyIdentifier', parse: asn1Parser(AuthorityKeyIdentifier) }],
  ['2.5.29.36', { name: 'policyConstraints', parse: asn1Parser(PolicyConstraints) }],
  ['2.5.29.37', { name: 'extKeyUsage', parse: asn1Parser(ExtendedKeyUsage) }],
  ['2.5.29.54', { name: 'inhibitAnyPolicy', parse: asn1Parser(InhibitAnyPolicy) }],
  ['1.3.6.1.5.5.7.1.1', { name: 'authorityInfoAccess', parse: asn1Parser(AuthorityInfoAccessSyntax) }],
  ['1.3.6.1.5.5.7.1.11', { name: 'subjectInfoAccess', parse: asn1Parser(SubjectInfoAccessSyntax) }],
  ['1.3.6.1.5.5.7.1.24', { name: 'tlsFeature' }],
  ['1.3.6.1.4.1.11129.2.4.3', { name: 'ctPoison' }],
]);

export interface RequestedExtension {
  oid: string;
  /** Short name of a known extension; absent for one we do not know (which is then necessarily non-critical). */
  name?: string;
  critical: boolean;
}

export interface CsrAttributes {
  requested: RequestedNames;
  requestedExtensions: RequestedExtension[];
  /** OIDs of the attributes other than the extension request (challengePassword, …): recorded, not used. */
  otherAttributes: string[];
}

export interface ExtensionWalk {
  maxDepth: number;
  /** For the subjectAltName value, which names.ts decodes in linear time. */
  sanBudget: ElementBudget;
  /** Shared by all other extension values, which the library parses at ~50 µs per element. */
  otherBudget: ElementBudget;
}

/** Elements allowed in all requested extension values other than subjectAltName, together. */
export const MAX_OTHER_EXTENSION_ELEMENTS = 512;

/** The [0] attributes field of CertificationRequestInfo (bytes already walked by checkDer). */
export function readAttributes(attrs: Tlv, walk: ExtensionWalk): CsrAttributes {
  const out: CsrAttributes = { requested: emptyRequestedNames(), requestedExtensions: [], otherAttributes: [] };
  const seen = new Set<string>();
  for (const attr of childrenOf(attrs, 'attributes')) {
    const [typeTlv, values] = expectChildren(attr, 0x30, 'attribute', 2);
    const type = oidOf(typeTlv!, 'attribute type');
    if (seen.has(type)) throw badCsr(`attribute ${type} appears more than once`);
    seen.add(type);
    if (type !== OID_EXTENSION_REQUEST) {
      if (values!.tag !== 0x31) throw badCsr(`attribute ${type}: values are not a SET`);
      out.otherAttributes.push(type);
      continue;
    }
    const [request] = expectChildren(values!, 0x31, 'extensionRequest', 1);
    readExtensionRequest(request!, out, walk);
  }
  return out;
}

function readExtensionRequest(request: Tlv, out: CsrAttributes, walk: ExtensionWalk): void {
  if (request.tag !== 0x30) throw badCsr('extensionRequest: not a list of extensions');
  if (childrenOf(request, 'extensionRequest').length > MAX_EXTENSIONS) throw badCsr(`more than ${MAX_EXTENSIONS} requested extensions`);
  const seen = new Set<string>();
  for (const { oid, critical, value } of readExtensionList(request)) {
    if (seen.has(oid)) throw badCsr(`extension ${oid} requested more than once`);
    seen.add(oid);
    const known = KNOWN_EXTENSIONS.get(oid);
    if (!known && critical) throw badCsr(`critical extension ${oid} is not one we know`);
    // Element budgets: one for the names, one for all other extension values together (the library parsers below
    // are slow per element).
    const budget = oid === OID_SUBJECT_ALT_NAME ? walk.sanBudget : walk.otherBudget;
    checkDer(value, { maxDepth: walk.maxDepth, budget, what: `extension ${oid}` });
    // Our own decoding of the names first: it sees the raw bytes a library would quietly convert.
    if (oid === OID_SUBJECT_ALT_NAME) out.requested = decodeSan(tlvOf(value, 'subjectAltName'));
    if (known?.parse) {
      try {
        known.parse(value);
      } catch {
        throw badCsr(`extension ${known.name}: malformed or not DER`);
      }
    }
    out.requestedExtensions.push(known ? { oid, name: known.name, critical } : { oid, critical });
  }
}
