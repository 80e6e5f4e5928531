// A blocked event loop is not a hung HSM. bench:soak saw it: the main thread busy for over the deadline, results
// unread in the workers' ports, operations looked out for longer than the deadline, and the pool declared its
// token stalled — "hsm.serving primary → none", a failover had a DR token been configured. The pool now counts
// that time only from when its thread was responsive again.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestToken } from '../support/token.ts';
import { closeAllPools, generateKey, openPool, poolOptions, REAL_MODULE, request, sleep, target, verifies } from './pool-support.ts';

afterEach(closeAllPools);

function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // the main thread does nothing else
  }
}

describe('session pool: event-loop lag', () => {
  it('a main thread blocked past the deadline does not take the token for stalled; service goes on', async () => {
    const token = createTestToken('pool-lag');
    const key = generateKey(token, 'k1');
    const pool = await openPool(poolOptions(target(token, REAL_MODULE), { deadlineMs: 1000 }));
    await pool.sign(request(key, randomBytes(32)));
    // Operations at the workers, answered at once, while this thread is blocked for 1.5 × the deadline.
    const pending = Array.from({ length: 4 }, () => pool.sign(request(key, randomBytes(32))).catch((e: unknown) => e));
    await sleep(0);
    blockFor(1500);
    expect(pool.health().ready, 'ready right after the block').toBe(true);
    expect(pool.health().serving).toBe('primary');
    await Promise.all(pending);
    await sleep(50);
    expect(pool.health().ready).toBe(true);
    const data = randomBytes(32);
    expect(verifies(key.spki, data, await pool.sign(request(key, data)))).toBe(true);
  });
});
