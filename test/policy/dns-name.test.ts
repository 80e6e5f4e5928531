// DNS names: what is accepted (and how it is normalized), and why each malformed name is refused.
import { domainToASCII } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkDnsName } from '../../ca/x509/general-names.ts';
import { parseDnsName } from '../../ca/policy/index.ts';

const long63 = 'a'.repeat(63);
const name253 = [long63, long63, long63, 'a'.repeat(61)].join('.');

describe('parseDnsName accepts and normalizes', () => {
  it.each([
    ['api.example.com', 'api.example.com'],
    ['API.Example.COM', 'api.example.com'],
    ['localhost', 'localhost'],
    ['a-b.c-d.internal', 'a-b.c-d.internal'],
    ['1.example.com', '1.example.com'],
    ['123abc.example', '123abc.example'],
    ['xn--mnchen-3ya.de', 'xn--mnchen-3ya.de'],
    ['XN--MNCHEN-3YA.DE', 'xn--mnchen-3ya.de'],
    ['xn--55qx5d.cn', 'xn--55qx5d.cn'],
    ['xn--zca.example', 'xn--zca.example'], // ß, valid under IDNA2008 / non-transitional UTS #46
    [`${long63}.example`, `${long63}.example`],
    [name253, name253],
    ['*.svc.internal', '*.svc.internal'],
    ['*.A.Example', '*.a.example'],
  ])('%j → %j', (input, normalized) => {
    const r = parseDnsName(input, { wildcard: true });
    expect(r).toMatchObject({ ok: true, value: { name: normalized, wildcard: normalized.startsWith('*.') } });
    // Whatever the policy accepts, the certificate builder accepts too.
    if (r.ok) expect(checkDnsName(r.value.name, { wildcard: r.value.wildcard })).toBe(normalized);
  });

  it('returns the labels after the wildcard', () => {
    expect(parseDnsName('*.a.example', { wildcard: true })).toMatchObject({ ok: true, value: { labels: ['a', 'example'] } });
  });
});

describe('parseDnsName refuses', () => {
  it.each([
    ['', /empty name/],
    ['a..example', /empty label/],
    ['.example.com', /empty label/],
    ['example.com.', /trailing dot/],
    ['.', /trailing dot/],
    ['a\u0000.example.com', /U\+0000 \(NUL\)/],
    ['a.example.com\u0000.evil.com', /NUL/],
    ['a\n.example', /control character U\+000A/],
    ['a\u007f.example', /control character U\+007F/],
    ['a.example.com,b.example.com', /comma/],
    ['a.example.com, DNS:evil.example', /comma/],
    ['a.example.com;b.example', /comma or semicolon/],
    ['a example.com', /whitespace/],
    ['a/b.example', /character "\/"/],
    ['a@b.example', /character "@"/],
    ['a:443.example', /character ":"/],
    ['a%41.example', /character "%"/],
    ['münchen.de', /raw non-ASCII.*"xn--mnchen-3ya\.de"/],
    ['ＡＢＣ.com', /raw non-ASCII/],
    ['a\u00ad.example', /raw non-ASCII/],
    ['\u200b.example', /raw non-ASCII/],
    ['а.example', /raw non-ASCII/], // Cyrillic a
    ['*', /bare "\*"/],
    ['*.*.example', /more than one wildcard/],
    ['a.*.example', /leftmost/],
    ['f*.example', /partial-label wildcard/],
    ['*f.example', /partial-label wildcard/],
    ['**.example', /partial-label wildcard/],
    ['*.example', /at least 2 labels after/],
    ['*.', /trailing dot/],
    [`${'a'.repeat(64)}.example`, /label longer than 63/],
    [`${name253}a`, /longer than 253/],
    [`*.${name253.slice(1)}`, /longer than 253/], // 252 after the "*.": the 253 counts the whole SAN
    ['a_b.example', /underscore/],
    ['_acme-challenge.example.com', /underscore/],
    ['-a.example', /hyphen/],
    ['a-.example', /hyphen/],
    ['ab--c.example', /positions 3–4/],
    ['xn--abc.example', /does not decode|ToASCII/],
    ['xn--abc-.example', /hyphen/], // a fake A-label for "abc"
    ['xn--mnchen-3ya-.de', /hyphen/],
    ['xn--.example', /hyphen/],
    ['xn----eha.example', /starts or ends with a hyphen/], // "-ü"
    ['xn--wca.example', /does not decode|ToASCII/], // "Ü": not a valid U-label (maps to ü)
    ['xn--1ug.example', /does not decode|ToASCII/], // ZWJ alone: CONTEXTJ
    ['xn--a-zhc.example', /does not decode|ToASCII/], // bidi rule
    ['10.0.0.1', /numeric last label/],
    ['a.123', /numeric last label/],
    ['a.0x1f', /numeric last label/],
    ['0x7f.1', /numeric last label/],
  ])('%j (%s)', (input, why) => {
    const r = parseDnsName(input, { wildcard: true });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(why);
  });

  it('wildcards only where allowed', () => {
    expect(parseDnsName('*.a.example')).toEqual({ ok: false, why: 'wildcard not allowed here' });
  });

  it('non-strings', () => {
    expect(parseDnsName(42 as unknown as string)).toEqual({ ok: false, why: 'not a string' });
    expect(parseDnsName(undefined as unknown as string).ok).toBe(false);
  });

  it('a megabyte of text is refused by length before any other work', () => {
    const huge = 'a'.repeat(1 << 20);
    const t = performance.now();
    expect(parseDnsName(huge)).toMatchObject({ ok: false, why: /longer than 253/ });
    expect(performance.now() - t).toBeLessThan(50);
  });
});

describe('node:url domainToASCII behaves as the checks assume', () => {
  // If a Node upgrade changes these, the refusals above still hold by our own checks, but the detail may change.
  it.each([
    ['münchen.de', 'xn--mnchen-3ya.de'],
    ['Example.COM', 'example.com'],
    ['xn--abc-.example', 'xn--abc-.example'], // fake A-label passes ToASCII: dns-name.ts checks it itself
    ['a,b.example', 'a,b.example'], // commas pass ToASCII: dns-name.ts refuses them itself
    ['a%41.example', 'aa.example'], // WHATWG host parsing percent-decodes: not pure UTS #46
  ])('%j → %j', (input, output) => {
    expect(domainToASCII(input)).toBe(output);
  });
});
