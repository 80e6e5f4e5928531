/**
 * IP address SANs, as text ("10.0.0.1", "2001:DB8::1") or as the iPAddress octets a CSR carries. Normalized to
 * one text form — dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run as `::`) — so that the CN rule and
 * duplicate detection compare like with like, and so ca/x509's subjectAltName() encodes exactly these octets.
 *
 * Refused (bad_name): octet strings of any length but 4 or 16; text that is not an address (leading zeros as in
 * `010.0.0.1` — octal to some parsers —, zone ids `fe80::1%eth0`, CIDR suffixes, spaces, NUL); and IPv4-mapped
 * IPv6 addresses (`::ffff:10.0.0.1`): many TLS stacks compare them as the IPv4 address, so an IPv6 rule could
 * grant what the IPv4 rules deny. Write the IPv4 address instead.
 */
import { ipBytes } from '../x509/general-names.ts';
import { accept, firstControl, refuse, type Parsed } from './parsed.ts';

export interface IpAddress {
  bytes: Uint8Array;
  /** Canonical text. */
  text: string;
}

export function parseIpAddress(input: unknown): Parsed<IpAddress> {
  let bytes: Uint8Array;
  if (input instanceof Uint8Array) {
    if (input.length !== 4 && input.length !== 16) return refuse(`IP address of ${input.length} octets: 4 (IPv4) or 16 (IPv6) expected`);
    bytes = Uint8Array.from(input);
  } else if (typeof input === 'string') {
    if (input.length === 0) return refuse('empty address');
    if (input.length > 64) return refuse('too long for an IP address');
    const control = firstControl(input);
    if (control) return refuse(`contains the control character ${control}`);
    if (input.includes('/')) return refuse('a range, not an address');
    const parsed = ipBytes(input);
    if (!parsed) return refuse('not an IPv4 or IPv6 address');
    bytes = parsed;
  } else return refuse('not an address');
  if (isV4Mapped(bytes)) return refuse('IPv4-mapped IPv6 address: give the IPv4 address');
  return accept({ bytes, text: formatIp(bytes) });
}

function isV4Mapped(b: Uint8Array): boolean {
  return b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

/** Dotted quad, or RFC 5952 §4 text for IPv6. */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // Longest run of two or more zero groups; the first of equal runs.
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
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}
