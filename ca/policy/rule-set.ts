/**
 * A rule set — the profile's SAN rules, or a client's grant — has one shape:
 *   { dns?: string[], ip?: string[], uri?: string[], email?: string[] }
 * (DNS patterns, CIDR ranges, URI prefixes or exact URIs, email domains or mailboxes). It allows a name when a
 * rule of the name's type matches it.
 *
 * Deny by default. A name type with no rule in a set (key absent or an empty list) is denied by that set — once a
 * set has a `dns` rule, an IP SAN needs an `ip` rule too (smallstep's semantics) — and a set with no rules at all
 * allows no name whatever. (smallstep treats a policy without any rule as "allow everything"; here an empty grant
 * or an empty profile section must never widen anything, so it allows nothing.)
 */
import { dnsPatternMatches, parseDnsPattern, type DnsPattern } from './dns-pattern.ts';
import type { DnsName } from './dns-name.ts';
import { emailRuleMatches, parseEmailRule, type EmailRule } from './email-rule.ts';
import type { EmailName } from './email-name.ts';
import type { IpAddress } from './ip-address.ts';
import { ipRangeContains, parseIpRange, type IpRange } from './ip-range.ts';
import type { Parsed } from './parsed.ts';
import type { UriName } from './uri-name.ts';
import { parseUriRule, uriRuleMatches, type UriRule } from './uri-rule.ts';

export const NAME_TYPES = ['dns', 'ip', 'uri', 'email'] as const;
export type NameType = (typeof NAME_TYPES)[number];

/** The rule set as written in a profile, stored for a grant, or given on the command line. */
export type RuleSetInput = Partial<Record<NameType, readonly string[]>>;

/** A parsed rule set; build it with compileRuleSet (or the per-type parsers), never by hand from text. */
export interface RuleSet {
  dns: readonly DnsPattern[];
  ip: readonly IpRange[];
  uri: readonly UriRule[];
  email: readonly EmailRule[];
}

export const EMPTY_RULE_SET: RuleSet = Object.freeze({ dns: [], ip: [], uri: [], email: [] });

export const RULE_PARSERS: { [T in NameType]: (text: unknown) => Parsed<RuleSet[T][number]> } = {
  dns: parseDnsPattern,
  ip: parseIpRange,
  uri: parseUriRule,
  email: parseEmailRule,
};

export interface RuleProblem {
  /** Where in the input: `dns[2]`, `ip`, `(top level)`. */
  field: string;
  why: string;
}

export type CompiledRuleSet = { ok: true; rules: RuleSet } | { ok: false; problems: RuleProblem[] };

/** Parses every rule; reports every bad one with its index. Unknown keys are refused, not ignored. */
export function compileRuleSet(input: unknown): CompiledRuleSet {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { ok: false, problems: [{ field: '(top level)', why: 'expected an object { dns?, ip?, uri?, email? }' }] };
  const problems: RuleProblem[] = [];
  for (const key of Object.keys(input)) if (!(NAME_TYPES as readonly string[]).includes(key)) problems.push({ field: key, why: `unknown name type (expected ${NAME_TYPES.join(', ')})` });
  const out: { -readonly [T in NameType]: RuleSet[T][number][] } = { dns: [], ip: [], uri: [], email: [] };
  for (const type of NAME_TYPES) {
    const list = (input as Record<string, unknown>)[type];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      problems.push({ field: type, why: 'expected a list' });
      continue;
    }
    list.forEach((text, i) => {
      const r = RULE_PARSERS[type](text);
      if (r.ok) (out[type] as unknown[]).push(r.value);
      else problems.push({ field: `${type}[${i}]`, why: r.why });
    });
  }
  return problems.length ? { ok: false, problems } : { ok: true, rules: out };
}

export function isEmptyRuleSet(rules: RuleSet): boolean {
  return NAME_TYPES.every((t) => rules[t].length === 0);
}

/** The rules as text again (normalized), e.g. to store a grant or show a profile. */
export function ruleSetText(rules: RuleSet): Record<NameType, string[]> {
  return { dns: rules.dns.map((r) => r.text), ip: rules.ip.map((r) => r.text), uri: rules.uri.map((r) => r.text), email: rules.email.map((r) => r.text) };
}

export type ParsedName = { type: 'dns'; name: DnsName } | { type: 'ip'; name: IpAddress } | { type: 'uri'; name: UriName } | { type: 'email'; name: EmailName };

export type RuleVerdict = 'allowed' | 'no-rule-of-type' | 'no-match';

export function ruleSetAllows(rules: RuleSet, n: ParsedName): RuleVerdict {
  if (rules[n.type].length === 0) return 'no-rule-of-type';
  let hit: boolean;
  switch (n.type) {
    case 'dns':
      hit = rules.dns.some((r) => dnsPatternMatches(r, n.name));
      break;
    case 'ip':
      hit = rules.ip.some((r) => ipRangeContains(r, n.name));
      break;
    case 'uri':
      hit = rules.uri.some((r) => uriRuleMatches(r, n.name));
      break;
    case 'email':
      hit = rules.email.some((r) => emailRuleMatches(r, n.name));
      break;
  }
  return hit ? 'allowed' : 'no-match';
}
