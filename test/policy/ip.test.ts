// IP SANs (text or octets, normalized) and IP rules (CIDR ranges, single addresses).
import { describe, expect, it } from 'vitest';
import { ipRangeContains, parseIpAddress, parseIpRange } from '../../ca/policy/index.ts';

describe('parseIpAddress', () => {
  it.each<[string | Uint8Array, string]>([
    ['10.0.0.1', '10.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::1', '::1'],
    ['::', '::'],
    ['1::', '1::'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    [Uint8Array.from([10, 1, 2, 3]), '10.1.2.3'],
    [Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), '2001:db8::1'],
  ])('%j → %s', (input, text) => {
    expect(parseIpAddress(input)).toMatchObject({ ok: true, value: { text } });
  });

  it.each<[string | Uint8Array, RegExp]>([
    [new Uint8Array(0), /0 octets/],
    [new Uint8Array(5), /5 octets.*4 \(IPv4\) or 16 \(IPv6\)/],
    [new Uint8Array(8), /8 octets/],
    [new Uint8Array(17), /17 octets/],
    ['', /empty/],
    ['10.0.0', /not an IPv4 or IPv6/],
    ['10.0.0.256', /not an IPv4 or IPv6/],
    ['010.0.0.1', /not an IPv4 or IPv6/],
    ['10.0.0.1 ', /not an IPv4 or IPv6/],
    ['10.0.0.1\u0000', /NUL/],
    ['10.0.0.0/8', /range/],
    ['fe80::1%eth0', /not an IPv4 or IPv6/],
    ['::ffff:10.0.0.1', /IPv4-mapped/],
    [Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]), /IPv4-mapped/],
    ['example.com', /not an IPv4 or IPv6/],
    ['0x7f.0.0.1', /not an IPv4 or IPv6/],
  ])('refuses %j', (input, why) => {
    const r = parseIpAddress(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(why);
  });
});

describe('IP ranges', () => {
  const contains = (range: string, address: string) => {
    const r = parseIpRange(range);
    const a = parseIpAddress(address);
    if (!r.ok || !a.ok) throw new Error('fixture');
    return ipRangeContains(r.value, a.value);
  };

  it.each([
    ['10.0.0.0/8', '10.255.1.2', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.0.0.0/8', '9.255.255.255', false],
    ['172.16.0.0/12', '172.31.255.255', true],
    ['172.16.0.0/12', '172.32.0.0', false],
    ['192.168.1.128/25', '192.168.1.200', true],
    ['192.168.1.128/25', '192.168.1.127', false],
    ['127.0.0.1', '127.0.0.1', true],
    ['127.0.0.1', '127.0.0.2', false],
    ['0.0.0.0/0', '203.0.113.9', true],
    ['0.0.0.0/0', '2001:db8::1', false],
    ['fd00::/8', 'fd12:3456::1', true],
    ['fd00::/8', 'fe00::1', false],
    ['2001:db8::/32', '2001:db8:ffff::1', true],
    ['2001:db8::/33', '2001:db8:8000::1', false],
    ['::/0', '10.0.0.1', false],
    ['::1', '::1', true],
  ])('%s contains %s → %s', (range, address, expected) => {
    expect(contains(range, address)).toBe(expected);
  });

  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['10.1.2.3', '10.1.2.3/32'],
    ['2001:DB8::/32', '2001:db8::/32'],
    ['::1', '::1/128'],
  ])('normalizes %s → %s', (text, normalized) => {
    expect(parseIpRange(text)).toMatchObject({ ok: true, value: { text: normalized } });
  });

  it.each([
    ['10.0.0.1/8', /host bits set.*10\.0\.0\.0\/8/],
    ['10.0.0.0/33', /longer than the 32-bit/],
    ['fd00::/129', /longer than the 128-bit/],
    ['10.0.0.0/08', /not a decimal/],
    ['10.0.0.0/', /not a decimal/],
    ['10.0.0.0/-1', /not a decimal/],
    ['10.0.0/8', /not an IPv4 or IPv6/],
    ['fd00::1/8', /host bits/],
    ['::ffff:10.0.0.0/104', /IPv4-mapped/],
    ['example.com/8', /not an IPv4 or IPv6/],
  ])('refuses %s', (text, why) => {
    const r = parseIpRange(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(why);
  });
});
