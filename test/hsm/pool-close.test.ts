// Closing a pool while its workers are signing. Worker threads used to be torn down with Worker.terminate() right
// after their 'closed' answer, while they could still be inside pkcs11js calls; that crashed the whole process
// (SIGSEGV in an N-API callback) within a few rounds of this test. The worker now ends by itself once closed.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GeneratedKey } from '../../hsm/keygen.ts';
import type { WorkerKind } from '../../hsm/worker-channel.ts';
import { createTestToken, type TestToken } from '../support/token.ts';
import { closeAllPools, generateKey, openPool, poolOptions, REAL_MODULE, request, sleep, target, track } from './pool-support.ts';

let token: TestToken;
let key: GeneratedKey;

beforeAll(() => {
  token = createTestToken('pool-close');
  key = generateKey(token, 'close-ec');
});

afterAll(async () => {
  await closeAllPools();
});

describe.each<[WorkerKind, number]>([
  ['thread', 30],
  ['process', 4],
])('closing a pool of %s workers while they sign', (workerKind, rounds) => {
  it(`${rounds} rounds: the process survives, every operation settles (signed or unavailable), each worker ends by itself`, async () => {
    const closeMs: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const pool = await openPool(poolOptions(target(token, REAL_MODULE), { workers: 2, pipelineDepth: 8, workerKind }));
      const ops = Array.from({ length: 64 }, () => track(pool.sign(request(key, randomBytes(8)))));
      // Close at varying points: before the first batch is posted, while the workers run it, between runs.
      await sleep(i % 6);
      const started = performance.now();
      await pool.close();
      closeMs.push(performance.now() - started);
      await Promise.all(ops.map((t) => t.promise));
      for (const t of ops) expect(t.kind === 'ok' || t.kind === 'unavailable', `${t.kind}: ${t.error?.message}`).toBe(true);
    }
    // Well under the second the pool gives a worker to answer 'closed': each answered and ended on its own, none
    // was let go (a lost answer or a worker that did not end would show here).
    expect(Math.max(...closeMs)).toBeLessThan(900);
  }, 120_000);
});
