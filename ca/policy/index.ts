// The name policy's surface: validate and normalize requested names, compile rule sets, decide.
export { decideNames, type NameDecision, type NameErrorCode, type NamePolicyOptions, type NameRequest, type NormalizedNames, type PolicyRuleSet } from './name-policy.ts';
export { compileRuleSet, EMPTY_RULE_SET, isEmptyRuleSet, NAME_TYPES, RULE_PARSERS, ruleSetAllows, ruleSetText, type CompiledRuleSet, type NameType, type RuleProblem, type RuleSet, type RuleSetInput } from './rule-set.ts';
export { parseDnsName, type DnsName } from './dns-name.ts';
export { dnsPatternMatches, parseDnsPattern, type DnsPattern } from './dns-pattern.ts';
export { formatIp, parseIpAddress, type IpAddress } from './ip-address.ts';
export { ipRangeContains, parseIpRange, type IpRange } from './ip-range.ts';
export { parseUriName, type UriName } from './uri-name.ts';
export { parseUriRule, uriRuleMatches, type UriRule } from './uri-rule.ts';
export { parseEmailName, type EmailName } from './email-name.ts';
export { emailRuleMatches, parseEmailRule, type EmailRule } from './email-rule.ts';
export { MAX_CN, resolveCommonName } from './common-name.ts';
export type { Parsed } from './parsed.ts';
export { shown as shownName } from './parsed.ts';
