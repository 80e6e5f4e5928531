// URI SANs and rules (prefixes ending in "/", or exact), email SANs and rules (domains, one-label wildcards, mailboxes).
import { describe, expect, it } from 'vitest';
import { emailRuleMatches, parseEmailName, parseEmailRule, parseUriName, parseUriRule, uriRuleMatches } from '../../ca/policy/index.ts';
import { emailName, uriName } from '../../ca/x509/general-names.ts';

describe('parseUriName', () => {
  it.each([
    ['spiffe://example.org/ns/prod/sa/api', 'spiffe://example.org/ns/prod/sa/api'],
    ['SPIFFE://Example.ORG/ns/Prod', 'spiffe://example.org/ns/Prod'],
    ['https://build.example.org/pipelines/42?run=1#x', 'https://build.example.org/pipelines/42?run=1#x'],
    ['http://[2001:db8::1]:8080/x', 'http://[2001:db8::1]:8080/x'],
    ['urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66', 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66'],
    ['spiffe://example.org/a%20b', 'spiffe://example.org/a%20b'],
  ])('%j → %j', (input, uri) => {
    const r = parseUriName(input);
    expect(r).toMatchObject({ ok: true, value: { uri } });
    // Whatever the policy accepts, the certificate builder accepts too.
    expect(() => uriName(uri)).not.toThrow();
  });

  it.each([
    ['', /empty/],
    ['example.org/path', /no scheme/],
    ['//example.org/path', /no scheme/],
    ['/just/a/path', /no scheme/],
    ['1http://x/', /no scheme/],
    ['spiffe:', /nothing after the scheme/],
    ['spiffe://example.org/a\u0000b', /NUL/],
    ['spiffe://example.org/a b', /whitespace/],
    ['spiffe://example.org/a,URI:spiffe://evil/', /comma/],
    ['spiffe://exämple.org/', /non-ASCII/],
    ['spiffe://example.org/<script>', /character "<"/],
    ['spiffe://example.org/a\\b', /character "\\"/],
    ['spiffe://example.org/%zz', /two hex digits/],
    ['spiffe://example.org@evil.example/x', /userinfo/],
    ['spiffe:///x', /empty host/],
    ['spiffe://example.org:abc/', /port/],
    ['spiffe://example.org/ns/../admin', /dot segment/],
    ['spiffe://example.org/ns/./a', /dot segment/],
    ['spiffe://example.org/ns/%2e%2E/admin', /dot segment/],
    ['spiffe://example.org/ns%2fadmin', /percent-encoded/],
    ['http:relative', /without a host/],
    [`spiffe://example.org/${'a'.repeat(2100)}`, /longer than 2048/],
  ])('refuses %j', (input, why) => {
    const r = parseUriName(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(why);
  });
});

describe('URI rules', () => {
  const matches = (rule: string, uri: string) => {
    const r = parseUriRule(rule);
    const u = parseUriName(uri);
    if (!r.ok || !u.ok) throw new Error('fixture');
    return uriRuleMatches(r.value, u.value);
  };
  it.each([
    ['spiffe://example.org/', 'spiffe://example.org/ns/a', true],
    ['spiffe://example.org/', 'SPIFFE://EXAMPLE.ORG/ns/a', true],
    ['spiffe://example.org/', 'spiffe://example.org/', true],
    ['spiffe://example.org/', 'spiffe://example.org.evil.example/ns/a', false],
    ['spiffe://example.org/', 'spiffe://example.organic/ns', false],
    ['spiffe://example.org/', 'spiffe://other.org/ns/a', false],
    ['spiffe://example.org/ns/a/', 'spiffe://example.org/ns/ab', false],
    ['spiffe://example.org/ns/a/', 'spiffe://example.org/ns/a/x', true],
    ['spiffe://example.org', 'spiffe://example.org', true],
    ['spiffe://example.org', 'spiffe://example.org.evil.example/', false],
    ['spiffe://example.org/ns/a', 'spiffe://example.org/ns/a/b', false],
    ['https://example.org/', 'http://example.org/x', false],
  ])('%s ~ %s → %s', (rule, uri, expected) => {
    expect(matches(rule, uri)).toBe(expected);
  });

  it('a rule has no query or fragment', () => {
    expect(parseUriRule('spiffe://example.org/?x')).toMatchObject({ ok: false, why: /query or fragment/ });
    expect(parseUriRule('no-scheme/')).toMatchObject({ ok: false, why: /no scheme/ });
  });
});

describe('parseEmailName', () => {
  it.each([
    ['alice@example.org', 'alice@example.org'],
    ['Alice.Smith@Example.ORG', 'Alice.Smith@example.org'],
    ['build+bot@ci.example.org', 'build+bot@ci.example.org'],
    ["o'brien@example.org", "o'brien@example.org"],
    ['a@xn--mnchen-3ya.de', 'a@xn--mnchen-3ya.de'],
  ])('%j → %j', (input, address) => {
    expect(parseEmailName(input)).toMatchObject({ ok: true, value: { address } });
    expect(() => emailName(address)).not.toThrow();
  });

  it.each([
    ['', /empty/],
    ['alice.example.org', /no "@"/],
    ['alice@@example.org', /more than one "@"/],
    ['"a@b"@example.org', /more than one "@"/],
    ['@example.org', /empty local part/],
    ['alice@', /domain: empty name/],
    ['alice@example.org.', /domain: trailing dot/],
    ['alice@exa_mple.org', /domain: underscore/],
    ['alice@*.example.org', /domain: wildcard not allowed/],
    ['alice@münchen.de', /non-ASCII/],
    ['jörg@example.org', /non-ASCII/],
    ['a,b@example.org', /comma/],
    ['alice@example.org,bob@example.org', /comma/],
    ['a lice@example.org', /whitespace/],
    ['alice\u0000@example.org', /NUL/],
    ['.alice@example.org', /dot-atom/],
    ['alice.@example.org', /dot-atom/],
    ['al..ice@example.org', /dot-atom/],
    ['a(b)@example.org', /dot-atom/],
    [`${'a'.repeat(65)}@example.org`, /local part longer than 64/],
    [`${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.org`, /longer than 254/],
  ])('refuses %j', (input, why) => {
    const r = parseEmailName(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(why);
  });
});

describe('email rules', () => {
  const matches = (rule: string, address: string) => {
    const r = parseEmailRule(rule);
    const e = parseEmailName(address);
    if (!r.ok || !e.ok) throw new Error('fixture');
    return emailRuleMatches(r.value, e.value);
  };
  it.each([
    ['example.org', 'alice@example.org', true],
    ['example.org', 'alice@EXAMPLE.org', true],
    ['example.org', 'alice@sub.example.org', false],
    ['example.org', 'alice@example.org.evil', false],
    ['*.example.org', 'alice@sub.example.org', true],
    ['*.example.org', 'alice@example.org', false],
    ['*.example.org', 'alice@a.b.example.org', false],
    ['alice@example.org', 'alice@example.org', true],
    ['alice@example.org', 'alice@Example.org', true],
    ['alice@example.org', 'Alice@example.org', false],
    ['alice@example.org', 'bob@example.org', false],
  ])('%s ~ %s → %s', (rule, address, expected) => {
    expect(matches(rule, address)).toBe(expected);
  });

  it.each([['f*.example.org'], ['@example.org'], ['example.org.'], ['a@b@example.org']])('refuses the rule %j', (rule) => {
    expect(parseEmailRule(rule).ok).toBe(false);
  });
});
