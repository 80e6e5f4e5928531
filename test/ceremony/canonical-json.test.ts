// Canonical JSON (RFC 8785): one encoding per value, and refusal of everything JSON cannot carry faithfully.
import { describe, expect, it } from 'vitest';
import { canonicalJson, CanonicalJsonError } from '../../ca/encoding/canonical-json.ts';

describe('canonicalJson', () => {
  it('sorts keys at every depth by UTF-16 code units and writes no whitespace', () => {
    const value = { b: [3, { z: 1, a: null }], a: 'x', '\u20ac': true, '\ud83d\ude00': false, A: 1, '10': 0, '9': 0 };
    // "1" < "9" < "A" < "a" < "b" < "€" (U+20AC) < "😀" (U+D83D U+DE00)
    expect(canonicalJson(value)).toBe('{"10":0,"9":0,"A":1,"a":"x","b":[3,{"a":null,"z":1}],"\u20ac":true,"\ud83d\ude00":false}');
  });

  it('is independent of insertion order', () => {
    expect(canonicalJson({ a: 1, b: { c: 2, d: 3 } })).toBe(canonicalJson({ b: { d: 3, c: 2 }, a: 1 }));
  });

  it('serialises numbers and strings as RFC 8785 does (ECMAScript rules)', () => {
    expect(canonicalJson([0, -0, 1e21, 1e-7, 0.1, -5, 333333333.3333333, 2 ** 53])).toBe('[0,0,1e+21,1e-7,0.1,-5,333333333.3333333,9007199254740992]');
    expect(canonicalJson('a"b\\c\n\t\u0001\u001f\u007f/é')).toBe('"a\\"b\\\\c\\n\\t\\u0001\\u001f\u007f/é"');
  });

  const refused: [string, unknown, RegExp][] = [
    ['undefined member', { a: 1, b: undefined }, /\$\.b is undefined/],
    ['undefined in an array', [1, undefined], /\$\[1\] is undefined/],
    ['NaN', { n: Number.NaN }, /\$\.n is NaN/],
    ['Infinity', { deep: { n: Infinity } }, /\$\.deep\.n is Infinity/],
    ['bigint', { n: 1n }, /\$\.n is a bigint/],
    ['function', { f: () => 1 }, /\$\.f is a function/],
    ['symbol', { s: Symbol('x') }, /\$\.s is a symbol/],
    ['Date', { t: new Date(0) }, /\$\.t is a Date/],
    ['Buffer', { b: Buffer.from('x') }, /\$\.b is a Buffer/],
    ['Map', { m: new Map() }, /\$\.m is a Map/],
    ['sparse array', { a: Object.assign(new Array(3), { 0: 1, 2: 3 }) }, /\$\.a\[1\] is a hole/],
    ['lone surrogate', { s: 'a\ud800b' }, /lone UTF-16 surrogate/],
    ['lone surrogate key', { ['\udc00']: 1 }, /lone UTF-16 surrogate/],
  ];
  it.each(refused)('refuses %s', (_name, value, message) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(value)).toThrow(message);
  });

  it('refuses cycles but accepts a shared (acyclic) object twice', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/\$\.self refers back to itself/);
  });

  it('round-trips through JSON.parse to the same encoding', () => {
    const v = { s: 'ü\u2028', n: [1.5, -0.25, 1e300], o: { '': null } };
    const c = canonicalJson(v);
    expect(canonicalJson(JSON.parse(c))).toBe(c);
  });
});
