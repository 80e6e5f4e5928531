/**
 * Email rules: a domain (`example.com`: any mailbox at exactly that domain), a one-label wildcard domain
 * (`*.example.com`: any mailbox at a host directly under example.com, as DNS patterns match), or one mailbox
 * (`alice@example.com`: that address only; the domain is compared case-insensitively, the local part exactly).
 */
import { dnsPatternMatches, parseDnsPattern, type DnsPattern } from './dns-pattern.ts';
import { parseEmailName, type EmailName } from './email-name.ts';
import { accept, refuse, type Parsed } from './parsed.ts';

export type EmailRule = { text: string; mailbox: string } | { text: string; domain: DnsPattern };

export function parseEmailRule(text: unknown): Parsed<EmailRule> {
  if (typeof text === 'string' && text.includes('@')) {
    const r = parseEmailName(text);
    return r.ok ? accept({ text: r.value.address, mailbox: r.value.address }) : refuse(r.why);
  }
  const r = parseDnsPattern(text);
  return r.ok ? accept({ text: r.value.text, domain: r.value }) : refuse(r.why);
}

export function emailRuleMatches(rule: EmailRule, name: EmailName): boolean {
  if ('mailbox' in rule) return rule.mailbox === name.address;
  return dnsPatternMatches(rule.domain, name.domainName);
}
