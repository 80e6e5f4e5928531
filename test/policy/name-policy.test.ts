// The name policy end to end: every requested name must be well formed (else bad_name) and allowed by every rule
// set — the profile's and the client's grant (else forbidden_name); deny by default; the CN rule.
import { describe, expect, it } from 'vitest';
import { compileRuleSet, decideNames, type NamePolicyOptions, type NameRequest, type PolicyRuleSet, type RuleSetInput } from '../../ca/policy/index.ts';

function rules(input: RuleSetInput) {
  const r = compileRuleSet(input);
  if (!r.ok) throw new Error(`fixture rules: ${JSON.stringify(r.problems)}`);
  return r.rules;
}

const profile: PolicyRuleSet = {
  source: 'profile tls-server',
  rules: rules({
    dns: ['*.svc.internal', '*.dev.internal', 'localhost', 'api.example.com'],
    ip: ['10.0.0.0/8', 'fd00::/8'],
    uri: ['spiffe://strongroom.internal/'],
    email: ['strongroom.internal'],
  }),
};
const grant: PolicyRuleSet = {
  source: 'grant build-bot',
  rules: rules({ dns: ['*.svc.internal', 'localhost'], ip: ['10.1.0.0/16'], uri: ['spiffe://strongroom.internal/build/'], email: ['strongroom.internal'] }),
};
const options: NamePolicyOptions = { wildcards: true, requireSan: true, maxNames: 10 };

const decide = (request: NameRequest, sets = [profile, grant], opts = options) => decideNames(request, sets, opts);

describe('allowed', () => {
  it.each<[NameRequest, Record<string, string[]>]>([
    [{ dns: ['a.svc.internal'] }, { dns: ['a.svc.internal'] }],
    [{ dns: ['A.SVC.Internal'] }, { dns: ['a.svc.internal'] }],
    [{ dns: ['a.svc.internal', 'A.svc.internal', 'b.svc.internal'] }, { dns: ['a.svc.internal', 'b.svc.internal'] }],
    [{ dns: ['xn--mnchen-3ya.svc.internal'] }, { dns: ['xn--mnchen-3ya.svc.internal'] }],
    [{ dns: ['*.svc.internal'] }, { dns: ['*.svc.internal'] }],
    [{ dns: ['localhost'] }, { dns: ['localhost'] }],
    [{ ip: ['10.1.2.3'] }, { ip: ['10.1.2.3'] }],
    [{ ip: [Uint8Array.from([10, 1, 0, 9])] }, { ip: ['10.1.0.9'] }],
    [{ uri: ['spiffe://strongroom.internal/build/ci'] }, { uri: ['spiffe://strongroom.internal/build/ci'] }],
    [{ uri: ['SPIFFE://Strongroom.Internal/build/ci'] }, { uri: ['spiffe://strongroom.internal/build/ci'] }],
    [{ email: ['bot@strongroom.internal'] }, { email: ['bot@strongroom.internal'] }],
    [
      { dns: ['a.svc.internal'], ip: ['10.1.0.1'], uri: ['spiffe://strongroom.internal/build/x'], email: ['b@Strongroom.internal'] },
      { dns: ['a.svc.internal'], ip: ['10.1.0.1'], uri: ['spiffe://strongroom.internal/build/x'], email: ['b@strongroom.internal'] },
    ],
  ])('%j', (request, names) => {
    const d = decide(request);
    expect(d).toMatchObject({ ok: true, names: { dns: [], ip: [], uri: [], email: [], ...names } });
  });
});

describe('bad_name', () => {
  it.each<[NameRequest, RegExp]>([
    [{ dns: ['a\u0000.svc.internal'] }, /DNS SAN "a\\u0000\.svc\.internal": contains the control character U\+0000 \(NUL\)/],
    [{ dns: ['a.svc.internal,b.svc.internal'] }, /comma/],
    [{ dns: ['*.*.svc.internal'] }, /more than one wildcard/],
    [{ dns: ['*'] }, /bare/],
    [{ dns: ['f*.svc.internal'] }, /partial-label/],
    [{ dns: ['a.svc.internal.'] }, /trailing dot/],
    [{ dns: ['münchen.svc.internal'] }, /raw non-ASCII.*xn--mnchen-3ya\.svc\.internal/],
    [{ dns: ['a..svc.internal'] }, /empty label/],
    [{ dns: [`${'a'.repeat(64)}.svc.internal`] }, /label longer than 63/],
    [{ dns: [`${'a.'.repeat(130)}svc.internal`] }, /longer than 253/],
    [{ dns: ['a_b.svc.internal'] }, /underscore/],
    [{ dns: ['xn--abc.svc.internal'] }, /ToASCII|decode/],
    [{ dns: ['ok.svc.internal', 'bad..svc.internal'] }, /bad\.\.svc/],
    [{ ip: [new Uint8Array(5)] }, /IP SAN \(5 octets\): IP address of 5 octets/],
    [{ ip: ['10.1.2'] }, /not an IPv4 or IPv6/],
    [{ ip: ['::ffff:10.1.0.1'] }, /IPv4-mapped/],
    [{ uri: ['strongroom.internal/build/x'] }, /URI SAN .*no scheme/],
    [{ uri: ['spiffe://strongroom.internal/build/../admin'] }, /dot segment/],
    [{ email: ['bot.strongroom.internal'] }, /email SAN .*no "@"/],
    [{ email: ['bot@strongroom.internal,evil@example.org'] }, /comma/],
    [{ dns: ['a.svc.internal'], cn: 'a.svc.internal\u0000.evil' }, /CN .*NUL/],
    // bad_name comes before forbidden_name: a malformed name is reported even where another name is not allowed.
    [{ dns: ['evil.example', 'a\u0000b.svc.internal'] }, /NUL/],
  ])('%j', (request, detail) => {
    const d = decide(request);
    expect(d).toMatchObject({ ok: false, code: 'bad_name' });
    if (!d.ok) expect(d.detail).toMatch(detail);
  });

  it('a non-list is bad_name, not a crash', () => {
    expect(decide({ dns: 'a.svc.internal' as unknown as string[] })).toMatchObject({ ok: false, code: 'bad_name' });
  });
});

describe('forbidden_name', () => {
  it.each<[NameRequest, RegExp]>([
    [{ dns: ['a.other.internal'] }, /DNS SAN "a\.other\.internal": outside profile tls-server/],
    [{ dns: ['a.dev.internal'] }, /outside grant build-bot/],
    [{ dns: ['api.example.com'] }, /outside grant build-bot/],
    [{ dns: ['svc.internal'] }, /outside profile/],
    [{ dns: ['a.b.svc.internal'] }, /outside profile/],
    [{ dns: ['*.a.svc.internal'] }, /outside profile/],
    [{ ip: ['10.2.0.1'] }, /IP SAN "10\.2\.0\.1": outside grant build-bot/],
    [{ ip: ['192.168.1.1'] }, /outside profile/],
    [{ ip: ['fd00::1'] }, /grant build-bot/],
    [{ uri: ['spiffe://strongroom.internal/admin'] }, /URI SAN .*outside grant/],
    [{ uri: ['spiffe://evil.internal/build/x'] }, /outside profile/],
    [{ email: ['bot@evil.example'] }, /email SAN .*outside profile/],
    [{ dns: ['a.svc.internal', 'evil.example'] }, /evil\.example/],
    [{}, /at least one SAN is required/],
    [{ cn: 'a.svc.internal' }, /at least one SAN/],
    [{ dns: Array.from({ length: 11 }, (_, i) => `h${i}.svc.internal`) }, /11 SANs requested; at most 10/],
  ])('%j', (request, detail) => {
    const d = decide(request);
    expect(d).toMatchObject({ ok: false, code: 'forbidden_name' });
    if (!d.ok) expect(d.detail).toMatch(detail);
  });

  it('a wildcard certificate needs the profile to allow wildcards', () => {
    expect(decide({ dns: ['*.svc.internal'] }, [profile, grant], { ...options, wildcards: false })).toMatchObject({
      ok: false,
      code: 'forbidden_name',
      detail: expect.stringMatching(/wildcard certificates are not allowed/),
    });
    // …and a `*.` pattern in both sets: an exact rule does not allow the wildcard.
    const exact: PolicyRuleSet = { source: 'grant exact', rules: rules({ dns: ['a.svc.internal'] }) };
    expect(decide({ dns: ['*.svc.internal'] }, [profile, exact])).toMatchObject({ ok: false, code: 'forbidden_name' });
  });

  it('too many names is refused before any name is parsed', () => {
    const d = decide({ dns: Array.from({ length: 100_000 }, () => '\u0000') });
    expect(d).toMatchObject({ ok: false, code: 'forbidden_name', detail: expect.stringMatching(/100000 SANs/) });
  });
});

describe('deny by default', () => {
  const dnsOnly: PolicyRuleSet = { source: 'grant dns-only', rules: rules({ dns: ['*.svc.internal'] }) };
  const empty: PolicyRuleSet = { source: 'grant empty', rules: rules({}) };
  const emptyLists: PolicyRuleSet = { source: 'grant empty-lists', rules: rules({ dns: [], ip: [] }) };

  it('once a set has a rule of one type, other types need their own rule', () => {
    expect(decide({ dns: ['a.svc.internal'] }, [profile, dnsOnly])).toMatchObject({ ok: true });
    expect(decide({ dns: ['a.svc.internal'], ip: ['10.1.0.1'] }, [profile, dnsOnly])).toMatchObject({
      ok: false,
      code: 'forbidden_name',
      detail: 'IP SAN "10.1.0.1": grant dns-only allows no ip names',
    });
    expect(decide({ email: ['a@strongroom.internal'] }, [profile, dnsOnly])).toMatchObject({ ok: false, detail: /allows no email names/ });
  });

  it.each([[empty], [emptyLists]])('a set with no rules allows nothing (%#)', (set) => {
    expect(decide({ dns: ['a.svc.internal'] }, [profile, set])).toMatchObject({ ok: false, code: 'forbidden_name', detail: expect.stringMatching(/allows no dns names/) });
    expect(decide({ ip: ['10.1.0.1'] }, [set, profile])).toMatchObject({ ok: false, code: 'forbidden_name' });
  });

  it('no rule sets at all is deny-all, not allow-all', () => {
    expect(decide({ dns: ['a.svc.internal'] }, [])).toMatchObject({ ok: false, code: 'forbidden_name', detail: expect.stringMatching(/deny by default/) });
  });

  it('a profile without SAN rules issues only SAN-less certificates', () => {
    const noSan: PolicyRuleSet = { source: 'profile ocsp-signer', rules: rules({}) };
    const opts = { wildcards: false, requireSan: false, maxNames: 10 };
    expect(decide({ cn: 'Strongroom OCSP' }, [noSan], opts)).toMatchObject({ ok: true, names: { dns: [], ip: [], uri: [], email: [] }, droppedCn: { value: 'Strongroom OCSP' } });
    expect(decide({ dns: ['a.svc.internal'] }, [noSan], opts)).toMatchObject({ ok: false, code: 'forbidden_name' });
  });
});

describe('the CN rule', () => {
  it.each<[NameRequest, { cn?: string; dropped?: RegExp }]>([
    [{ dns: ['a.svc.internal'], cn: 'a.svc.internal' }, { cn: 'a.svc.internal' }],
    [{ dns: ['a.svc.internal'], cn: 'A.SVC.INTERNAL' }, { cn: 'a.svc.internal' }],
    [{ dns: ['A.svc.internal'], cn: 'a.svc.internal' }, { cn: 'a.svc.internal' }],
    [{ dns: ['*.svc.internal'], cn: '*.svc.internal' }, { cn: '*.svc.internal' }],
    [{ ip: ['10.1.0.1'], cn: '10.1.0.1' }, { cn: '10.1.0.1' }],
    [{ ip: [Uint8Array.from([10, 1, 0, 1])], cn: '10.1.0.1' }, { cn: '10.1.0.1' }],
    [{ dns: ['a.svc.internal'], cn: 'b.svc.internal' }, { dropped: /not one of the DNS or IP SANs/ }],
    [{ dns: ['a.svc.internal'], cn: 'My Service' }, { dropped: /not one of/ }],
    [{ dns: ['a.svc.internal'], cn: '' }, { dropped: /empty/ }],
    [{ dns: ['a.svc.internal'], cn: 'a.svc.internal.' }, { dropped: /not one of/ }],
    [{ dns: ['a.svc.internal'], cn: 'münchen.svc.internal' }, { dropped: /not one of/ }],
    [{ dns: ['a.svc.internal'], cn: 'a.svc.internal, b.svc.internal' }, { dropped: /not one of/ }],
    [{ uri: ['spiffe://strongroom.internal/build/x'], cn: 'spiffe://strongroom.internal/build/x' }, { dropped: /not one of the DNS or IP/ }],
    [{ email: ['bot@strongroom.internal'], cn: 'bot@strongroom.internal' }, { dropped: /not one of/ }],
    [{ dns: [`${'a'.repeat(60)}.svc.internal`], cn: `${'a'.repeat(60)}.svc.internal` }, { dropped: /longer than 64/ }],
  ])('%j', (request, expected) => {
    const d = decide(request);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    if (expected.cn) {
      expect(d.cn).toBe(expected.cn);
      expect(d.droppedCn).toBeUndefined();
    } else {
      expect(d.cn).toBeUndefined();
      expect(d.droppedCn?.value).toBe(request.cn);
      expect(d.droppedCn?.reason).toMatch(expected.dropped!);
    }
  });

  it('the CN never adds a name: a CN outside the rules is dropped, not checked in', () => {
    const d = decide({ dns: ['a.svc.internal'], cn: 'evil.example' });
    expect(d).toMatchObject({ ok: true, names: { dns: ['a.svc.internal'] }, droppedCn: { value: 'evil.example' } });
  });
});

describe('details are safe to return', () => {
  it('quotes and truncates the name', () => {
    const d = decide({ dns: [`${'a'.repeat(200)}\u0000`] });
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.detail.length).toBeLessThan(200);
      expect(d.detail).not.toContain('\u0000');
    }
  });
});
