/**
 * DNS rules: an exact name (`api.example.com`) or a pattern whose leftmost label is `*` (`*.svc.internal`).
 *
 * `*.svc.internal` matches exactly one label in place of the `*` — `a.svc.internal`, not `svc.internal`, not
 * `a.b.svc.internal`. A requested wildcard name (`*.svc.internal`) is matched only by the identical wildcard
 * pattern, never by an exact rule nor by a shallower pattern (`*.internal` does not cover `*.svc.internal`: the
 * certificate would speak for names one level further down), and only when the profile allows wildcard
 * certificates at all (name-policy.ts checks that).
 *
 * Patterns are parsed with the same rules as requested names, except that a wildcard pattern may stand on a single
 * label (`*.internal`: any host directly under `.internal`). `*` anywhere else (`a.*.b`, `f*.x`, `*.*.x`) is refused.
 */
import { parseDnsName, type DnsName } from './dns-name.ts';
import { accept, refuse, type Parsed } from './parsed.ts';

export interface DnsPattern {
  /** The pattern as written, lowercased. */
  text: string;
  wildcard: boolean;
  /** For a wildcard, the part after `*.`; for an exact rule, the name. */
  base: string;
}

export function parseDnsPattern(text: unknown): Parsed<DnsPattern> {
  const r = parseDnsName(text, { wildcard: true, minWildcardBase: 1 });
  if (!r.ok) return refuse(r.why);
  return accept({ text: r.value.name, wildcard: r.value.wildcard, base: r.value.labels.join('.') });
}

/** `name` must already be normalized by parseDnsName. */
export function dnsPatternMatches(pattern: DnsPattern, name: DnsName): boolean {
  if (name.wildcard) return pattern.wildcard && pattern.text === name.name;
  if (!pattern.wildcard) return pattern.text === name.name;
  const dot = name.name.indexOf('.');
  return dot > 0 && name.name.slice(dot + 1) === pattern.base;
}
