/**
 * GeneralName values checked before they are encoded: DNS names (A-labels, lowercase), IP addresses and ranges,
 * URIs and email addresses. A malformed name in a CA certificate lives for decades, so the builders refuse rather
 * than pass through whatever text they were given.
 */
import { isIP } from 'node:net';
import { GeneralName } from '@peculiar/asn1-x509';
import { X509Error } from './errors.ts';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A lowercase LDH hostname (IDNs as A-labels); `*.` only when the caller allows a wildcard. */
export function checkDnsName(name: string, { wildcard = false } = {}): string {
  const fail = (why: string) => new X509Error('invalid-input', `DNS name ${JSON.stringify(name)}: ${why}`);
  const body = wildcard && name.startsWith('*.') ? name.slice(2) : name;
  if (body.length === 0 || body.length > 253) throw fail('empty or longer than 253 characters');
  for (const label of body.split('.')) if (!LABEL.test(label)) throw fail(`label "${label}" is not lowercase LDH`);
  return name;
}

export function dnsName(name: string, options: { wildcard?: boolean } = {}): GeneralName {
  return new GeneralName({ dNSName: checkDnsName(name, options) });
}

/** Absolute URI, ASCII only (IA5String); `schemes` narrows the scheme when the use demands it. */
export function uriName(uri: string, schemes?: readonly string[]): GeneralName {
  return new GeneralName({ uniformResourceIdentifier: checkUri(uri, schemes) });
}

export function checkUri(uri: string, schemes?: readonly string[]): string {
  const fail = (why: string) => new X509Error('invalid-input', `URI ${JSON.stringify(uri)}: ${why}`);
  if (!/^[\x21-\x7e]+$/.test(uri)) throw fail('not printable ASCII without spaces');
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw fail('not an absolute URI');
  }
  if (schemes && !schemes.includes(url.protocol.slice(0, -1))) throw fail(`scheme must be ${schemes.join(' or ')}`);
  if ((url.protocol === 'http:' || url.protocol === 'https:') && !url.hostname) throw fail('no host');
  return uri;
}

/** rfc822Name: a mailbox (local@domain); constraints may also name a host or a ".domain". */
export function emailName(value: string, { constraint = false } = {}): GeneralName {
  return new GeneralName({ rfc822Name: checkEmail(value, { constraint }) });
}

export function checkEmail(value: string, { constraint = false } = {}): string {
  const fail = (why: string) => new X509Error('invalid-input', `email ${JSON.stringify(value)}: ${why}`);
  const at = value.lastIndexOf('@');
  if (at >= 0) {
    const local = value.slice(0, at);
    if (!/^[\x21-\x3f\x41-\x7e]+$/.test(local)) throw fail('local part must be printable ASCII without spaces or @');
    checkDnsName(value.slice(at + 1));
  } else if (!constraint) throw fail('no @');
  else checkDnsName(value.startsWith('.') ? value.slice(1) : value);
  return value;
}

/** An address range "10.0.0.0/8" or "2001:db8::/32" for name constraints: address then mask, 8 or 32 octets. */
export function ipRangeName(cidr: string): GeneralName {
  const fail = (why: string) => new X509Error('invalid-input', `IP range ${JSON.stringify(cidr)}: ${why}`);
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) throw fail('expected address/prefix');
  const bytes = parseIp(m[1]!);
  const prefix = Number(m[2]);
  if (prefix > bytes.length * 8) throw fail('prefix longer than the address');
  // Host bits set would make the range mean something other than what was written.
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) throw fail('host bits set after the prefix');
  }
  return new GeneralName({ iPAddress: `${formatForEncoder(bytes)}/${prefix}` });
}

export function parseIp(text: string): Uint8Array {
  const bytes = ipBytes(text);
  if (!bytes) throw new X509Error('invalid-input', `${JSON.stringify(text)} is not an IP address`);
  return bytes;
}

/**
 * The address's octets, or undefined when `text` is not one. Not a throw: the name policy asks this of every CN
 * (most are not addresses), and building an exception with its stack cost ~0.1 ms a certificate.
 */
export function ipBytes(text: string): Uint8Array | undefined {
  const version = isIP(text);
  if (version === 4) {
    const parts = text.split('.').map(Number);
    // Node accepts only canonical dotted quads, but leading zeros ("010") are refused explicitly: octal to some.
    if (text.split('.').some((p) => p.length > 1 && p.startsWith('0'))) return undefined;
    return Uint8Array.from(parts);
  }
  if (version !== 6 || text.includes('%')) return undefined;
  let head = text;
  const tail: number[] = [];
  const v4 = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const v4Bytes = ipBytes(v4[1]!);
    if (!v4Bytes) return undefined;
    tail.push(...v4Bytes);
    head = `${text.slice(0, v4.index + 1)}${'0:0'}`; // stand-in groups, replaced below
  }
  const halves = head.split('::');
  const groups = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groups(halves[0]);
  const right = groups(halves[1]);
  const all = halves.length === 2 ? [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right] : left;
  if (all.length !== 8) return undefined;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (tail.length) out.set(tail, 12);
  return out;
}

/** The text @peculiar/asn1-x509's IpConverter turns back into exactly these bytes (IPv6 fully expanded). */
function formatForEncoder(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}
