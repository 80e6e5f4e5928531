// Session workers run at a lower CPU priority than the thread that feeds them (hsm/worker-priority.ts): the nice
// value configured lands on each worker thread (or worker process) and on nothing else, and signing still works.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hsmConfigSchema } from '../../hsm/hsm-config.ts';
import type { GeneratedKey } from '../../hsm/keygen.ts';
import { DEFAULT_WORKER_NICE } from '../../hsm/worker-priority.ts';
import { createTestToken, type TestToken } from '../support/token.ts';
import { closeAllPools, generateKey, openPool, poolOptions, REAL_MODULE, recordChildProcesses, request, target, verifies } from './pool-support.ts';

let token: TestToken;
let ec: GeneratedKey;

beforeAll(() => {
  token = createTestToken('nice');
  ec = generateKey(token, 'nice-ec');
});
afterEach(() => closeAllPools());

/** Field 19 of a /proc stat line; the command name (field 2) may hold spaces, so count from its parenthesis. */
function niceOf(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** Nice value → number of this process's threads at it. */
function threadNices(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const n = niceOf(`/proc/self/task/${tid}/stat`);
      out.set(n, (out.get(n) ?? 0) + 1);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

async function signsOk(pool: Awaited<ReturnType<typeof openPool>>): Promise<void> {
  const inputs = Array.from({ length: 50 }, () => randomBytes(32));
  const sigs = await Promise.all(inputs.map((d) => pool.sign(request(ec, d))));
  sigs.forEach((s, i) => expect(verifies(ec.spki, inputs[i]!, s)).toBe(true));
}

describe('session worker priority', () => {
  it('config: workerNice defaults to 10; 0-19 accepted, anything else refused', () => {
    expect(DEFAULT_WORKER_NICE).toBe(10);
    expect(hsmConfigSchema.parse({ token: { label: 'x' } }).pool.workerNice).toBe(10);
    expect(hsmConfigSchema.parse({ token: { label: 'x' }, pool: { workerNice: 0 } }).pool.workerNice).toBe(0);
    for (const bad of [-1, 20, 2.5, '5']) expect(() => hsmConfigSchema.parse({ token: { label: 'x' }, pool: { workerNice: bad } })).toThrow();
  });

  it('thread workers: each worker thread runs at the nice value, the calling thread keeps its own', async () => {
    const own = niceOf('/proc/thread-self/stat');
    const nice = own + 7;
    const before = threadNices().get(nice) ?? 0;
    const pool = await openPool(poolOptions(target(token, REAL_MODULE), { workers: 2, workerNice: nice }));
    expect((threadNices().get(nice) ?? 0) - before).toBe(2);
    expect(niceOf('/proc/thread-self/stat')).toBe(own);
    await signsOk(pool);
  });

  it('process workers: each worker process runs at the nice value', async () => {
    const nice = niceOf('/proc/thread-self/stat') + 5;
    const rec = recordChildProcesses();
    let pool;
    try {
      pool = await openPool(poolOptions(target(token, REAL_MODULE), { workers: 2, workerKind: 'process', workerNice: nice }));
    } finally {
      rec.stop();
    }
    expect(rec.children).toHaveLength(2);
    for (const c of rec.children) expect(niceOf(`/proc/${c.pid}/stat`)).toBe(nice);
    await signsOk(pool);
  });

  it('workerNice 0: the pool lowers no thread', async () => {
    const own = niceOf('/proc/thread-self/stat');
    // Counted before and after rather than "every thread at our nice": a thread another suite left behind is not ours.
    const lowered = () => [...threadNices()].filter(([n]) => n !== own).reduce((sum, [, count]) => sum + count, 0);
    const threads = () => [...threadNices().values()].reduce((a, b) => a + b, 0);
    const before = { lowered: lowered(), threads: threads() };
    const pool = await openPool(poolOptions(target(token, REAL_MODULE), { workers: 2, workerNice: 0 }));
    expect(threads()).toBeGreaterThanOrEqual(before.threads + 2);
    expect(lowered()).toBeLessThanOrEqual(before.lowered);
    await signsOk(pool);
  });
});
