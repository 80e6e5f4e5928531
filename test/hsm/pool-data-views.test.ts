// What a caller hands the pool is often a view: a slice of a larger buffer, or a small Buffer from Node's shared
// 8 KiB pool. The signature must cover exactly the view's bytes — never its neighbours — whether the worker is a
// thread (structured clone) or a process (IPC), and the caller's buffer must be left as it was.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GeneratedKey } from '../../hsm/keygen.ts';
import { createTestToken, type TestToken } from '../support/token.ts';
import { closeAllPools, generateKey, openPool, poolOptions, REAL_MODULE, request, target, verifies } from './pool-support.ts';

let token: TestToken;
let ec: GeneratedKey;

beforeAll(() => {
  token = createTestToken('views');
  ec = generateKey(token, 'views-ec');
});
afterEach(() => closeAllPools());

describe.each(['thread', 'process'] as const)('operation data given as a view (%s workers)', (workerKind) => {
  it('signs exactly the bytes of each view, and leaves the caller’s buffers untouched', async () => {
    const pool = await openPool(poolOptions(target(token, REAL_MODULE), { workers: 2, workerKind }));
    const big = randomBytes(4096);
    const bigCopy = Buffer.from(big);
    const views: Uint8Array[] = [
      big.subarray(100, 300), // a slice in the middle of a larger buffer
      new Uint8Array(big.buffer, big.byteOffset + 4000, 96), // a Uint8Array view at an offset
      Buffer.from('a small Buffer from the shared pool'), // allocated from Node's 8 KiB slab
      Buffer.allocUnsafe(200).fill(0x5a), // likewise
      big.subarray(0, 0), // empty
    ];
    const sigs = await Promise.all(views.map((v) => pool.sign(request(ec, v))));
    views.forEach((v, i) => {
      expect(verifies(ec.spki, Buffer.from(v), sigs[i]!)).toBe(true);
      // A signature over the view's neighbours as well would not verify against the view alone.
      if (v.byteLength > 0 && v.byteOffset > 0) expect(verifies(ec.spki, Buffer.from(v.buffer, v.byteOffset - 1, v.byteLength + 1), sigs[i]!)).toBe(false);
    });
    expect(big.equals(bigCopy)).toBe(true);
  });
});
