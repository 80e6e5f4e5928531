import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../ca/db/group-commit.ts';

/** A recorder whose statements finish when the test says, logging each batch. */
function recorder(options: ConstructorParameters<typeof GroupCommit<number>>[1]) {
  const batches: number[][] = [];
  const finishers: (() => void)[] = [];
  const commit = new GroupCommit<number>(
    (rows) =>
      new Promise<void>((resolve) => {
        batches.push(rows);
        finishers.push(resolve);
      }),
    options,
  );
  return { commit, batches, finishNext: () => finishers.shift()!() };
}

const turn = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('GroupCommit', () => {
  it('flushes a lone record at once, and resolves its caller only when the statement has finished', async () => {
    const { commit, batches, finishNext } = recorder({ delayMs: 1000 });
    let done = false;
    const p = commit.record(1).then(() => (done = true));
    await turn();
    expect(batches).toEqual([[1]]);
    expect(done).toBe(false);
    finishNext();
    await p;
    expect(done).toBe(true);
  });

  it('gathers what arrives during a flush and the wait after it into one batch', async () => {
    const { commit, batches, finishNext } = recorder({ delayMs: 50 });
    void commit.record(1);
    await turn();
    void commit.record(2);
    void commit.record(3);
    finishNext();
    await sleep(10);
    void commit.record(4);
    expect(batches).toHaveLength(1);
    await sleep(80);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  // Without a target, a fast signer waits the whole delay after every flush: a closed loop of callers is capped at
  // callers ÷ delay records per second.
  it.each([
    { batchTarget: undefined, flushedEarly: false },
    { batchTarget: 3, flushedEarly: true },
  ])('ends the wait after a flush once batchTarget records are queued (target $batchTarget)', async ({ batchTarget, flushedEarly }) => {
    const { commit, batches, finishNext } = recorder({ delayMs: 2000, batchTarget });
    void commit.record(1);
    await turn();
    finishNext();
    await turn();
    void commit.record(2);
    void commit.record(3);
    await sleep(20);
    expect(batches).toHaveLength(1);
    void commit.record(4);
    await sleep(20);
    expect(batches).toEqual(flushedEarly ? [[1], [2, 3, 4]] : [[1]]);
  });

  it('starts at once after a flush when batchTarget records queued during it', async () => {
    const { commit, batches, finishNext } = recorder({ delayMs: 2000, batchTarget: 2 });
    void commit.record(1);
    await turn();
    void commit.record(2);
    void commit.record(3);
    finishNext();
    await sleep(20);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it('keeps at most maxConcurrent statements in flight, whatever the target', async () => {
    const { commit, batches, finishNext } = recorder({ delayMs: 0, batchTarget: 1, maxConcurrent: 1 });
    void commit.record(1);
    await turn();
    void commit.record(2);
    void commit.record(3);
    await sleep(20);
    expect(batches).toEqual([[1]]);
    finishNext();
    await sleep(20);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it('rejects every caller of a batch whose statement failed', async () => {
    const commit = new GroupCommit<number>(() => Promise.reject(new Error('database gone')), { delayMs: 0 });
    const results = await Promise.allSettled([commit.record(1), commit.record(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
