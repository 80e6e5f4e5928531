/**
 * Names as the CSR states them, decoded from the raw bytes (not from a library's idea of the string types, which
 * silently maps IA5 bytes above 0x7f to Latin-1 and turns a 3-octet iPAddress into hex text):
 *
 * - the subject, as an ordered list of [short name or dotted OID, value];
 * - the subjectAltName of the extension request, sorted into DNS names, IP addresses (canonical text: dotted quad,
 *   RFC 5952 IPv6), URIs and email addresses, with the other GeneralName forms listed by kind.
 *
 * Whether a name is acceptable is the policy module's question. Here only structural smuggling is refused, as
 * bad_name: NUL and other control characters, bytes outside IA5 in IA5String fields, invalid UTF-8 or
 * PrintableString, empty names, iPAddress octet strings of a length other than 4 or 16, and a subject with more
 * than one CN (which one a relying party reads is implementation-defined). Messages name the field and its
 * position, never its contents.
 */
import { childrenOf, expectChildren, implicitOidOf, oidOf, type Tlv } from './der.ts';
import { badCsr, badName } from './errors.ts';

export type SubjectAttribute = readonly [type: string, value: string];

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.17': 'postalCode',
  '2.5.4.42': 'GN',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

export function attributeName(oid: string): string {
  return SHORT_NAMES[oid] ?? oid;
}

// C0 controls, DEL and C1 controls: never meant in a name, and the classic way to make two readers disagree.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Real subjects have a handful; the library's Name decoding costs ~0.2 ms per attribute. */
export const MAX_SUBJECT_ATTRIBUTES = 32;

export function decodeSubject(name: Tlv): { subject: SubjectAttribute[]; cn?: string } {
  const subject: SubjectAttribute[] = [];
  if (name.tag !== 0x30) throw badCsr('subject: not a Name');
  for (const rdn of childrenOf(name, 'subject')) {
    const atvs = expectChildren(rdn, 0x31, 'subject RDN', 1, Number.MAX_SAFE_INTEGER);
    for (const atv of atvs) {
      if (subject.length === MAX_SUBJECT_ATTRIBUTES) throw badCsr(`subject: more than ${MAX_SUBJECT_ATTRIBUTES} attributes`);
      const [typeTlv, valueTlv] = expectChildren(atv, 0x30, 'subject attribute', 2);
      const oid = oidOf(typeTlv!, 'subject attribute type');
      const type = attributeName(oid);
      subject.push([type, directoryString(valueTlv!, `subject ${type} #${subject.length + 1}`)]);
    }
  }
  const cns = subject.filter(([t]) => t === 'CN');
  if (cns.length > 1) throw badName('subject has more than one CN');
  return cns.length === 1 ? { subject, cn: cns[0]![1] } : { subject };
}

function directoryString(v: Tlv, what: string): string {
  let text: string;
  switch (v.tag) {
    case 0x0c: // UTF8String
      try {
        text = utf8.decode(v.content);
      } catch {
        throw badName(`${what}: invalid UTF-8`);
      }
      break;
    case 0x13: // PrintableString
      text = ascii(v.content, what);
      if (!PRINTABLE.test(text)) throw badName(`${what}: characters outside PrintableString`);
      break;
    case 0x12: // NumericString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
      text = ascii(v.content, what);
      break;
    case 0x14: // TeletexString: read as Latin-1, as OpenSSL and browsers do
      text = Buffer.from(v.content).toString('latin1');
      break;
    case 0x1e: // BMPString: UCS-2 big-endian
      text = ucs(v.content, 2, what);
      break;
    case 0x1c: // UniversalString: UCS-4 big-endian
      text = ucs(v.content, 4, what);
      break;
    default:
      throw badName(`${what}: not a string type`);
  }
  if (text.length === 0) throw badName(`${what}: empty`);
  if (text.includes('\u0000')) throw badName(`${what}: contains a NUL character`);
  if (CONTROL.test(text)) throw badName(`${what}: contains a control character`);
  return text;
}

function ucs(b: Uint8Array, width: 2 | 4, what: string): string {
  if (b.length % width) throw badName(`${what}: truncated ${width === 2 ? 'BMPString' : 'UniversalString'}`);
  let out = '';
  for (let i = 0; i < b.length; i += width) {
    const cp = width === 2 ? (b[i]! << 8) | b[i + 1]! : ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) throw badName(`${what}: invalid character`);
    out += String.fromCodePoint(cp);
  }
  return out;
}

/** IA5-family bytes: 7-bit only. */
function ascii(b: Uint8Array, what: string): string {
  for (const c of b) if (c > 0x7f) throw badName(`${what}: byte outside IA5 (non-ASCII)`);
  return Buffer.from(b).toString('latin1');
}

export interface RequestedNames {
  dns: string[];
  /** Canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run as ::, no embedded IPv4). */
  ip: string[];
  uri: string[];
  email: string[];
  /** The other GeneralName forms, by kind: `otherName:<oid>`, `directoryName`, `registeredID:<oid>`, `x400Address`, `ediPartyName`. */
  other: string[];
}

export function emptyRequestedNames(): RequestedNames {
  return { dns: [], ip: [], uri: [], email: [], other: [] };
}

/** subjectAltName extnValue (already checked strict DER) → names, or CsrError bad_name / bad_csr. */
export function decodeSan(value: Tlv): RequestedNames {
  const out = emptyRequestedNames();
  if (value.tag !== 0x30) throw badCsr('subjectAltName: not a GeneralNames sequence');
  const names = childrenOf(value, 'subjectAltName');
  if (names.length === 0) throw badCsr('subjectAltName: empty');
  names.forEach((gn, i) => {
    const at = `subjectAltName entry #${i + 1}`;
    switch (gn.tag) {
      case 0x81:
        out.email.push(ia5Name(gn.content, `${at} (rfc822Name)`));
        break;
      case 0x82:
        out.dns.push(ia5Name(gn.content, `${at} (dNSName)`));
        break;
      case 0x86:
        out.uri.push(ia5Name(gn.content, `${at} (uniformResourceIdentifier)`));
        break;
      case 0x87:
        out.ip.push(ipText(gn.content, `${at} (iPAddress)`));
        break;
      case 0xa0: {
        const [typeId, inner] = expectChildren(gn, 0xa0, `${at} (otherName)`, 2);
        expectChildren(inner!, 0xa0, `${at} (otherName value)`, 1); // [0] EXPLICIT ANY
        out.other.push(`otherName:${oidOf(typeId!, `${at} (otherName)`)}`);
        break;
      }
      case 0xa4:
        expectChildren(gn, 0xa4, `${at} (directoryName)`, 1);
        decodeSubject(childrenOf(gn, at)[0]!);
        out.other.push('directoryName');
        break;
      case 0x88:
        out.other.push(`registeredID:${implicitOidOf(gn, `${at} (registeredID)`)}`);
        break;
      case 0xa3:
        out.other.push('x400Address');
        break;
      case 0xa5:
        out.other.push('ediPartyName');
        break;
      default:
        throw badCsr(`${at}: not a GeneralName`);
    }
  });
  return out;
}

function ia5Name(b: Uint8Array, what: string): string {
  if (b.length === 0) throw badName(`${what}: empty`);
  for (const c of b) {
    if (c === 0x00) throw badName(`${what}: contains a NUL byte`);
    if (c > 0x7f) throw badName(`${what}: byte outside IA5String (raw non-ASCII)`);
    if (c < 0x20 || c === 0x7f) throw badName(`${what}: contains a control character`);
  }
  return Buffer.from(b).toString('latin1');
}

export function ipText(b: Uint8Array, what = 'iPAddress'): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) throw badName(`${what}: ${b.length} octets, expected 4 (IPv4) or 16 (IPv6)`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952 §4.2: the longest run of two or more zero groups (the first, on a tie) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
