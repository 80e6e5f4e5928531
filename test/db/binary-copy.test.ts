// PostgreSQL's binary COPY format as BinaryCopyWriter writes it (the server-side round trip is in
// test/tsa/store.test.ts, which runs on PostgreSQL in CI): header, field lengths, big-endian values, NULL as -1,
// timestamps as microseconds from 2000-01-01, and a buffer that grows past its size hint.
import { describe, expect, it } from 'vitest';
import { BinaryCopyWriter } from '../../ca/db/binary-copy.ts';

const HEADER = '5047434f50590aff0d0a00' + '00000000' + '00000000';
const TRAILER = 'ffff';
const hexOf = (w: BinaryCopyWriter) => w.end().toString('hex');

describe('BinaryCopyWriter', () => {
  it('writes the header and trailer around no rows', () => {
    expect(hexOf(new BinaryCopyWriter())).toBe(HEADER + TRAILER);
  });

  it.each([
    ['int8 1', (w: BinaryCopyWriter) => w.int8(1n), '00000008' + '0000000000000001'],
    ['int8 -2', (w: BinaryCopyWriter) => w.int8(-2n), '00000008' + 'fffffffffffffffe'],
    ['int4 258', (w: BinaryCopyWriter) => w.int4(258), '00000004' + '00000102'],
    ['timestamptz at the PostgreSQL epoch + 1 ms', (w: BinaryCopyWriter) => w.timestamptz(new Date('2000-01-01T00:00:00.001Z')), '00000008' + '00000000000003e8'],
    ['timestamptz before 2000 (negative)', (w: BinaryCopyWriter) => w.timestamptz(new Date('1999-12-31T23:59:59.999Z')), '00000008' + 'fffffffffffffc18'],
    // 2026-11-28T12:00:00Z = 849,182,400 s after 2000-01-01: beyond 32 bits in microseconds.
    ['timestamptz in 2026', (w: BinaryCopyWriter) => w.timestamptz(new Date('2026-11-28T12:00:00Z')), '00000008' + (849_182_400_000_000n).toString(16).padStart(16, '0')],
    ['text, UTF-8 with its byte length', (w: BinaryCopyWriter) => w.text('é1'), '00000003' + 'c3a931'],
    ['empty text', (w: BinaryCopyWriter) => w.text(''), '00000000'],
    ['bytea', (w: BinaryCopyWriter) => w.bytea(Uint8Array.of(0, 255)), '00000002' + '00ff'],
    ['NULL', (w: BinaryCopyWriter) => w.null(), 'ffffffff'],
  ])('%s', (_name, write, field) => {
    const w = new BinaryCopyWriter().row(1);
    write(w);
    expect(hexOf(w)).toBe(HEADER + '0001' + field + TRAILER);
  });

  it('grows past its size hint without losing bytes', () => {
    const w = new BinaryCopyWriter(64);
    const big = new Uint8Array(10_000).map((_, i) => i & 0xff);
    w.row(2).bytea(big).int8(7n);
    const out = w.end();
    expect(out.length).toBe(19 + 2 + 4 + 10_000 + 12 + 2);
    expect(out.subarray(25, 25 + 10_000).equals(Buffer.from(big))).toBe(true);
    expect(out.readBigInt64BE(25 + 10_000 + 4)).toBe(7n);
  });

  it('refuses an invalid date rather than write garbage', () => {
    expect(() => new BinaryCopyWriter().row(1).timestamptz(new Date(NaN))).toThrow(RangeError);
  });
});
