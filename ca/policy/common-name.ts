/**
 * The subject CN rule: a CSR's CN survives only if it is one of the certificate's SANs — equal, after
 * normalization, to a DNS SAN or an IP SAN — and fits the 64-character bound of a CN. Otherwise it is dropped
 * (and the decision says so and why): a CN is never a way to get a name past the SAN rules, nor a free-text field
 * the requester fills in. A CN carrying NUL or another control character is not dropped quietly but refused
 * (bad_name): that is an attack, not a typo.
 */
import type { DnsName } from './dns-name.ts';
import { parseDnsName } from './dns-name.ts';
import type { IpAddress } from './ip-address.ts';
import { parseIpAddress } from './ip-address.ts';
import { firstControl, refuse, type Parsed } from './parsed.ts';

export const MAX_CN = 64;

export type CommonNameOutcome = { cn: string } | { dropped: { value: string; reason: string } };

export function resolveCommonName(cn: string, sans: { dns: readonly DnsName[]; ip: readonly IpAddress[] }): Parsed<CommonNameOutcome> {
  const control = firstControl(cn);
  if (control) return refuse(`contains the control character ${control}`);
  const drop = (reason: string): Parsed<CommonNameOutcome> => ({ ok: true, value: { dropped: { value: cn, reason } } });
  if (cn.length === 0) return drop('empty');
  const asDns = parseDnsName(cn, { wildcard: true });
  const asIp = parseIpAddress(cn);
  const match = asDns.ok && sans.dns.some((d) => d.name === asDns.value.name) ? asDns.value.name : asIp.ok && sans.ip.some((a) => a.text === asIp.value.text) ? asIp.value.text : undefined;
  if (match === undefined) return drop('not one of the DNS or IP SANs');
  if (match.length > MAX_CN) return drop(`longer than ${MAX_CN} characters (ub-common-name); the SAN carries the name`);
  return { ok: true, value: { cn: match } };
}
