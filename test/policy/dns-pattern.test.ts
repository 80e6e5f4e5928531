// DNS rules: exact names and one-label `*.` patterns; a wildcard SAN only by the identical pattern.
import { describe, expect, it } from 'vitest';
import { dnsPatternMatches, parseDnsName, parseDnsPattern } from '../../ca/policy/index.ts';

function matches(pattern: string, name: string): boolean {
  const p = parseDnsPattern(pattern);
  const n = parseDnsName(name, { wildcard: true });
  if (!p.ok || !n.ok) throw new Error(`fixture does not parse: ${pattern} / ${name}`);
  return dnsPatternMatches(p.value, n.value);
}

describe('dnsPatternMatches', () => {
  it.each([
    ['*.svc.internal', 'a.svc.internal', true],
    ['*.svc.internal', 'API.SVC.INTERNAL', true],
    ['*.svc.internal', 'xn--mnchen-3ya.svc.internal', true],
    ['*.svc.internal', 'svc.internal', false],
    ['*.svc.internal', 'a.b.svc.internal', false],
    ['*.svc.internal', 'asvc.internal', false],
    ['*.svc.internal', 'a.svc.internal.evil', false],
    ['*.svc.internal', 'a.xsvc.internal', false],
    ['*.svc.internal', '*.svc.internal', true],
    ['*.SVC.internal', '*.svc.internal', true],
    ['*.svc.internal', '*.a.svc.internal', false],
    ['*.internal', '*.svc.internal', false],
    ['*.internal', 'svc.internal', true],
    ['api.example.com', 'api.example.com', true],
    ['api.example.com', 'API.example.com', true],
    ['api.example.com', 'x.api.example.com', false],
    ['api.example.com', 'example.com', false],
    ['example.com', '*.example.com', false],
    ['localhost', 'localhost', true],
  ])('%s ~ %s → %s', (pattern, name, expected) => {
    expect(matches(pattern, name)).toBe(expected);
  });
});

describe('parseDnsPattern', () => {
  it.each([
    ['*.svc.internal', { text: '*.svc.internal', wildcard: true, base: 'svc.internal' }],
    ['*.internal', { text: '*.internal', wildcard: true, base: 'internal' }],
    ['API.Example.com', { text: 'api.example.com', wildcard: false, base: 'api.example.com' }],
  ])('%j', (text, value) => {
    expect(parseDnsPattern(text)).toEqual({ ok: true, value });
  });

  it.each([
    ['a.*.internal', /leftmost/],
    ['f*.internal', /partial-label/],
    ['*x.internal', /partial-label/],
    ['*.*.internal', /more than one wildcard/],
    ['*', /bare/],
    ['*.', /trailing dot/],
    ['svc.internal.', /trailing dot/],
    ['a_b.internal', /underscore/],
    ['münchen.de', /non-ASCII/],
    ['', /empty/],
    ['a,b.internal', /comma/],
  ])('refuses %j', (text, why) => {
    const r = parseDnsPattern(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(why);
  });
});
