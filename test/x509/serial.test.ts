// Serial numbers: from an injected random source, positive, DER-minimal, one text spelling.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkSerial, newSerial, serialFromBigint, serialFromBytes, serialFromHex, X509Error } from '../../ca/x509/index.ts';
import { fromHex, hex } from './der-surgery.ts';

/** A random source that returns the given draws in order and records how many bytes were asked for. */
function scripted(...draws: string[]) {
  const asked: number[] = [];
  const source = (n: number) => {
    asked.push(n);
    return fromHex(draws.shift()!);
  };
  return { source, asked };
}

describe('newSerial', () => {
  it('asks for 16 bytes, clears the top bit and needs no sign octet', async () => {
    const { source, asked } = scripted('ff'.repeat(16));
    const s = await newSerial(source);
    expect(asked).toEqual([16]);
    expect(hex(s.bytes)).toBe(`7f${'ff'.repeat(15)}`);
    expect(s.hex).toBe(`7f${'ff'.repeat(15)}`);
  });

  it('accepts an async source (the HSM) and a Buffer', async () => {
    const s = await newSerial(async (n) => randomBytes(n));
    expect(s.bytes.length).toBeLessThanOrEqual(16);
    expect(s.bytes[0]! & 0x80).toBe(0);
    expect(checkSerial(s.bytes)).toEqual([]);
  });

  it('strips leading zero octets (DER-minimal) and writes hex without leading zeros', async () => {
    const s = await newSerial(scripted(`000a${'11'.repeat(14)}`).source);
    expect(hex(s.bytes)).toBe(`0a${'11'.repeat(14)}`);
    expect(s.hex).toBe(`a${'11'.repeat(14)}`);
  });

  it('draws again when the value is zero or too short for 64 bits', async () => {
    const { source, asked } = scripted('00'.repeat(16), `${'00'.repeat(9)}${'ff'.repeat(7)}`, `01${'00'.repeat(15)}`);
    const s = await newSerial(source);
    expect(asked).toEqual([16, 16, 16]);
    expect(s.hex).toBe(`1${'00'.repeat(15)}`);
  });

  it('gives up on a source that keeps returning zeros', async () => {
    await expect(newSerial(() => new Uint8Array(16))).rejects.toThrow(/random source/);
  });

  it('refuses a source that returns the wrong length', async () => {
    await expect(newSerial(() => new Uint8Array(8))).rejects.toThrow(X509Error);
  });
});

describe('serial conversions', () => {
  it('adds a sign octet where the top bit is set, and round-trips through hex', () => {
    const s = serialFromHex('80aa');
    expect(hex(s.bytes)).toBe('0080aa');
    expect(serialFromBytes(s.bytes)).toEqual(s);
    expect(serialFromBigint(0x80aan)).toEqual(s);
  });

  it.each(['0a', '00', 'ABC', '', 'x1', '1'.repeat(41)])('refuses the hex spelling %j', (text) => {
    expect(() => serialFromHex(text)).toThrow(X509Error);
  });

  it('refuses zero, negative and over-long values', () => {
    expect(() => serialFromBigint(0n)).toThrow(X509Error);
    expect(() => serialFromBigint(-5n)).toThrow(X509Error);
    expect(() => serialFromBigint(2n ** 160n)).toThrow(X509Error); // 21 octets with the sign octet
    expect(serialFromBigint(2n ** 159n - 1n).bytes.length).toBe(20);
  });

  it('refuses non-minimal bytes', () => {
    expect(() => serialFromBytes(fromHex('0001'))).toThrow(/redundant/);
  });
});

describe('checkSerial', () => {
  it.each([
    ['0102030405060708', []],
    ['00ff02030405060708', []],
    ['00ff020304050607', ['serial-low-entropy']], // 7 significant octets
    ['01020304050607', ['serial-low-entropy']],
    ['0001020304050607 08'.replace(' ', ''), ['serial-not-minimal']],
    ['ff02030405060708', ['serial-not-positive']],
    ['00', ['serial-not-positive', 'serial-low-entropy']],
    ['', ['serial-not-minimal']],
    ['01'.repeat(21), ['serial-too-long']],
    ['01'.repeat(20), []],
  ])('%s → %j', (bytes, codes) => {
    expect(checkSerial(fromHex(bytes)).map((f) => f.code)).toEqual(codes);
  });

  it('lets CRL entries name short serials', () => {
    expect(checkSerial(fromHex('05'), { minOctets: 1 })).toEqual([]);
  });
});
