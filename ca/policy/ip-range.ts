/**
 * IP rules: CIDR ranges (`10.0.0.0/8`, `fd00::/8`) or single addresses (`10.1.2.3` = `/32`, `2001:db8::1` = `/128`).
 * An IPv4 range matches only IPv4 addresses and an IPv6 range only IPv6 ones. A range with host bits set
 * (`10.0.0.1/8`) is refused: it would mean something other than what was written — the same rule as ca/x509's
 * name-constraint ranges. Prefixes are decimal without leading zeros.
 */
import { formatIp, parseIpAddress, type IpAddress } from './ip-address.ts';
import { accept, refuse, type Parsed } from './parsed.ts';

export interface IpRange {
  /** Canonical `address/prefix`. */
  text: string;
  network: Uint8Array;
  prefix: number;
}

export function parseIpRange(text: unknown): Parsed<IpRange> {
  if (typeof text !== 'string') return refuse('not a string');
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const addr = parseIpAddress(addressText);
  if (!addr.ok) return refuse(`${JSON.stringify(addressText)}: ${addr.why}`);
  const bits = addr.value.bytes.length * 8;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return refuse(`prefix "${p}" is not a decimal number`);
    prefix = Number(p);
    if (prefix > bits) return refuse(`prefix /${prefix} is longer than the ${bits}-bit address`);
  }
  const network = addr.value.bytes;
  for (let bit = prefix; bit < bits; bit++) {
    if (network[bit >> 3]! & (0x80 >> (bit & 7))) return refuse(`host bits set after /${prefix} (did you mean ${formatIp(mask(network, prefix))}/${prefix}?)`);
  }
  return accept({ text: `${formatIp(network)}/${prefix}`, network, prefix });
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

export function ipRangeContains(range: IpRange, address: IpAddress): boolean {
  const a = address.bytes;
  if (a.length !== range.network.length) return false;
  const full = range.prefix >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== range.network[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const m = (0xff << (8 - rest)) & 0xff;
  return (a[full]! & m) === range.network[full];
}
