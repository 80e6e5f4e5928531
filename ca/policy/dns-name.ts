/**
 * DNS names as a CSR requests them (dNSName SANs, a CN that looks like a host name, the domain of an email address),
 * validated and normalized. The result is what goes into the certificate and what the rules are matched against.
 *
 * Accepted: ASCII hostnames, labels of letters, digits and inner hyphens (LDH), 1–63 octets each, at most 253 in
 * all; internationalized names only as A-labels (`xn--…`). Uppercase is folded to lowercase — the only change a
 * name may undergo. Refused (bad_name):
 *   - empty names and empty labels (`a..b`, a leading dot), a trailing dot (`a.example.` — the absolute form is
 *     not a certificate name), labels over 63 octets, names over 253;
 *   - NUL and every other control character, spaces, commas and any other punctuation (a comma in a "name" is the
 *     classic way to smuggle a second name through a text form: `a.example,DNS:b.example`);
 *   - raw non-ASCII (`münchen.de`): IDNs must arrive as A-labels. The detail says what ToASCII would give;
 *   - a name that IDNA ToASCII (UTS #46, node:url domainToASCII) changes other than by lowercasing, or refuses —
 *     e.g. an A-label that does not decode (`xn--abc`), decodes to a disallowed or non-NFC label, or breaks the
 *     bidi/joiner rules;
 *   - fake A-labels that decode to pure ASCII (`xn--abc-`: ToASCII as Node implements it lets them through; the
 *     LDH rule catches the trailing hyphen, the decode check below stays as a second line), and A-labels whose
 *     U-label starts or ends with a hyphen or has `--` in positions 3–4 (Node does not check hyphens: WHATWG
 *     runs UTS #46 with CheckHyphens=false);
 *   - other labels with `--` in positions 3–4 (`ab--c`): reserved for IDNA prefixes (RFC 5891 §4.2.3.1);
 *   - underscores: host names are LDH (RFC 952/1123), the CA/Browser Forum forbids `_` in dNSName since 2019, and
 *     ca/x509's dNSName builder refuses them — a certificate name is not an SRV or DKIM owner name;
 *   - a numeric last label (`10.0.0.1`, `a.123`, `a.0x1`): URL parsers read such a host as an IPv4 address, so
 *     it belongs in an IP SAN;
 *   - wildcards anywhere but a whole leftmost label: bare `*`, `*.*.x`, `a.*.x`, `f*.x`, `*f.x`; and `*.tld`
 *     (a wildcard needs at least two labels after `*.`). Wildcards only where the caller allows them at all.
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import { accept, firstControl, hasNonAscii, refuse, type Parsed } from './parsed.ts';

export interface DnsName {
  /** Lowercase, as it goes into the certificate; with the `*.` when it is a wildcard. */
  name: string;
  wildcard: boolean;
  /** The labels after any `*.`. */
  labels: readonly string[];
}

export interface DnsNameOptions {
  /** Whether a leading `*.` label may appear at all (SAN from a CSR: yes, then judged by policy; email domain: no). */
  wildcard?: boolean;
  /** The least number of labels after `*.` (2 for requested names; patterns may say 1). */
  minWildcardBase?: number;
}

const MAX_NAME = 253;
const MAX_LABEL = 63;
const LDH = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function parseDnsName(input: unknown, { wildcard = false, minWildcardBase = 2 }: DnsNameOptions = {}): Parsed<DnsName> {
  if (typeof input !== 'string') return refuse('not a string');
  if (input.length === 0) return refuse('empty name');
  // Length first: nothing below should spend time on a megabyte of text.
  if (input.length > MAX_NAME) return refuse(`longer than ${MAX_NAME} characters`);
  const control = firstControl(input);
  if (control) return refuse(`contains the control character ${control}`);
  if (hasNonAscii(input)) {
    const a = domainToASCII(input);
    return refuse(`raw non-ASCII characters: internationalized names must be sent as A-labels${a ? ` (IDNA ToASCII gives "${a}")` : ''}`);
  }
  if (/[,;]/.test(input)) return refuse('contains a comma or semicolon: one SAN entry is one name');
  if (/\s/.test(input)) return refuse('contains whitespace');
  const odd = /[^A-Za-z0-9.*_-]/.exec(input);
  if (odd) return refuse(`character "${odd[0]}" is not allowed in a DNS name`);
  if (input.endsWith('.')) return refuse('trailing dot: give the name without the root label');

  const name = input.toLowerCase();
  const all = name.split('.');
  let isWildcard = false;
  if (name.includes('*')) {
    if (name === '*') return refuse('a bare "*" is not a name');
    if (all.filter((l) => l.includes('*')).length > 1) return refuse('more than one wildcard');
    const at = all.findIndex((l) => l.includes('*'));
    if (all[at] !== '*') return refuse('partial-label wildcard: "*" must be a whole label');
    if (at !== 0) return refuse('wildcard not in the leftmost label');
    if (!wildcard) return refuse('wildcard not allowed here');
    isWildcard = true;
  }
  const labels = isWildcard ? all.slice(1) : all;
  for (const label of labels) {
    const problem = labelProblem(label);
    if (problem) return refuse(problem);
  }
  // WHATWG URL parsing treats a host whose last label is a number (decimal or 0x hex) as an IPv4 address.
  if (/^([0-9]+|0x[0-9a-f]*)$/.test(labels[labels.length - 1]!)) return refuse('numeric last label: reads as an IPv4 address (use an IP SAN)');
  if (isWildcard && labels.length < minWildcardBase) {
    return refuse(`a wildcard needs at least ${minWildcardBase} label${minWildcardBase === 1 ? '' : 's'} after "*."`);
  }
  // UTS #46 ToASCII must leave the (lowercased) name as it is: anything it would map, drop or refuse is not a
  // name we sign, whatever the rest of the world's parsers would make of it.
  const body = labels.join('.');
  const ascii = domainToASCII(body);
  if (ascii === '') return refuse('refused by IDNA ToASCII (UTS #46)');
  if (ascii !== body) return refuse(`IDNA ToASCII (UTS #46) changes it to "${ascii}"`);
  return accept({ name, wildcard: isWildcard, labels });
}

function labelProblem(label: string): string | undefined {
  if (label.length === 0) return 'empty label';
  if (label.length > MAX_LABEL) return `label longer than ${MAX_LABEL} characters`;
  if (label.includes('_')) return `underscore in label "${label}": host names are letters, digits and hyphens`;
  if (!LDH.test(label)) return `label "${label}" starts or ends with a hyphen`;
  if (label.slice(2, 4) === '--') {
    if (!label.startsWith('xn--')) return `label "${label}" has "--" in positions 3–4 (reserved for IDNA)`;
    return aLabelProblem(label);
  }
  return undefined;
}

/** Checks Node's ToASCII leaves out: an A-label must decode to a real U-label. */
function aLabelProblem(label: string): string | undefined {
  const u = domainToUnicode(label);
  if (u === '' || u === label) return `A-label "${label}" does not decode`;
  if (!hasNonAscii(u)) return `A-label "${label}" decodes to plain ASCII "${u}"`;
  if (u.startsWith('-') || u.endsWith('-')) return `A-label "${label}" decodes to a label that starts or ends with a hyphen`;
  if (u.slice(2, 4) === '--') return `A-label "${label}" decodes to a label with "--" in positions 3–4`;
  return undefined;
}
