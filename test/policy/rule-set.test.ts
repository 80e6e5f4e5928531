// Rule sets: one shape for the profile's SAN rules and a client's grant; every bad rule reported with its index.
import { describe, expect, it } from 'vitest';
import { compileRuleSet, isEmptyRuleSet, ruleSetText } from '../../ca/policy/index.ts';

describe('compileRuleSet', () => {
  it('parses and normalizes every type', () => {
    const r = compileRuleSet({ dns: ['*.SVC.internal', 'api.example.com'], ip: ['10.0.0.0/8', '2001:DB8::/32', '127.0.0.1'], uri: ['SPIFFE://Example.org/'], email: ['Example.org', 'alice@Example.org'] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(ruleSetText(r.rules)).toEqual({
      dns: ['*.svc.internal', 'api.example.com'],
      ip: ['10.0.0.0/8', '2001:db8::/32', '127.0.0.1/32'],
      uri: ['spiffe://example.org/'],
      email: ['example.org', 'alice@example.org'],
    });
    expect(isEmptyRuleSet(r.rules)).toBe(false);
  });

  it('an empty set is empty', () => {
    const r = compileRuleSet({});
    expect(r.ok && isEmptyRuleSet(r.rules)).toBe(true);
  });

  it.each<[unknown, { field: string; why: RegExp }[]]>([
    [{ dns: ['ok.example', 'a.*.example'] }, [{ field: 'dns[1]', why: /leftmost/ }]],
    [{ dns: ['f*.example'] }, [{ field: 'dns[0]', why: /partial-label/ }]],
    [{ ip: ['10.0.0.0/8', '10.0.0.1/8', 'nonsense'] }, [{ field: 'ip[1]', why: /host bits/ }, { field: 'ip[2]', why: /not an IPv4 or IPv6/ }]],
    [{ uri: ['example.org/'] }, [{ field: 'uri[0]', why: /no scheme/ }]],
    [{ email: ['a@b@c'] }, [{ field: 'email[0]', why: /more than one "@"/ }]],
    [{ dsn: ['a.example'] }, [{ field: 'dsn', why: /unknown name type/ }]],
    [{ dns: 'a.example' }, [{ field: 'dns', why: /expected a list/ }]],
    [{ dns: [42] }, [{ field: 'dns[0]', why: /not a string/ }]],
    [null, [{ field: '(top level)', why: /expected an object/ }]],
    [['a.example'], [{ field: '(top level)', why: /expected an object/ }]],
  ])('refuses %j', (input, problems) => {
    const r = compileRuleSet(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems).toEqual(problems.map((p) => ({ field: p.field, why: expect.stringMatching(p.why) })));
  });
});
