/**
 * Email address SANs (rfc822Name): `local@domain`, validated and normalized. The domain is a DNS name under the
 * rules of dns-name.ts (lowercased, A-labels, no wildcard); the local part keeps its case (RFC 5321 leaves it to
 * the receiving host) and must be a dot-atom: letters, digits and ! # $ % & ' * + / = ? ^ _ ` { | } ~ -, with
 * single dots between atoms, at most 64 characters.
 *
 * Refused (bad_name): no "@", more than one "@" (quoted local parts are not supported), an empty local part or
 * domain, NUL and controls, spaces, commas, raw non-ASCII (SmtpUTF8Mailbox, RFC 8398, is not issued), and anything
 * over 254 characters.
 */
import { parseDnsName, type DnsName } from './dns-name.ts';
import { accept, firstControl, hasNonAscii, refuse, type Parsed } from './parsed.ts';

export interface EmailName {
  /** `local@domain` with the domain lowercased. */
  address: string;
  local: string;
  domain: string;
  /** The domain as a parsed DNS name, for matching against domain rules. */
  domainName: DnsName;
}

const MAX_EMAIL = 254;
const MAX_LOCAL = 64;
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

export function parseEmailName(input: unknown): Parsed<EmailName> {
  if (typeof input !== 'string') return refuse('not a string');
  if (input.length === 0) return refuse('empty address');
  if (input.length > MAX_EMAIL) return refuse(`longer than ${MAX_EMAIL} characters`);
  const control = firstControl(input);
  if (control) return refuse(`contains the control character ${control}`);
  if (hasNonAscii(input)) return refuse('raw non-ASCII characters (internationalized mailboxes are not issued)');
  if (/[,;]/.test(input)) return refuse('contains a comma or semicolon: one SAN entry is one address');
  if (/\s/.test(input)) return refuse('contains whitespace');
  const at = input.indexOf('@');
  if (at < 0) return refuse('no "@": an email SAN is local@domain');
  if (input.indexOf('@', at + 1) >= 0) return refuse('more than one "@"');
  const local = input.slice(0, at);
  if (local.length === 0) return refuse('empty local part');
  if (local.length > MAX_LOCAL) return refuse(`local part longer than ${MAX_LOCAL} characters`);
  if (!DOT_ATOM.test(local)) return refuse(`local part "${local}" is not a dot-atom`);
  const d = parseDnsName(input.slice(at + 1));
  if (!d.ok) return refuse(`domain: ${d.why}`);
  return accept({ address: `${local}@${d.value.name}`, local, domain: d.value.name, domainName: d.value });
}
