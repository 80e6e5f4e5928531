import { describe, expect, it } from 'vitest';
import type { WireOp } from '../../hsm/pool-protocol.ts';
import { WorkerQueue } from '../../hsm/worker-queue.ts';

const op = (id: number, rank: number): WireOp => ({ id, rank, key: { label: 'k' }, alg: 'ecdsa-sha256', data: new Uint8Array(0), enc: 'der', deadline: 0 });

describe('WorkerQueue: lowest rank first, arrival order within a rank', () => {
  it.each<[string, number[], number[]]>([
    ['one rank stays in arrival order', [1, 1, 1], [0, 1, 2]],
    ['a high one overtakes everything queued', [2, 1, 2, 0], [3, 1, 0, 2]],
    ['later ones of a rank go after the earlier ones of that rank', [2, 0, 1, 0, 1, 2], [1, 3, 2, 4, 0, 5]],
    ['ranks arriving in order stay in order', [0, 1, 2], [0, 1, 2]],
  ])('%s', (_, ranks, expectedIds) => {
    const q = new WorkerQueue();
    ranks.forEach((r, i) => q.push(op(i, r)));
    expect(q.length).toBe(ranks.length);
    const out: number[] = [];
    for (let o = q.shift(); o; o = q.shift()) out.push(o.id);
    expect(out).toEqual(expectedIds);
    expect(q.length).toBe(0);
  });

  it('takeAll empties it, in the order it would have run', () => {
    const q = new WorkerQueue();
    [2, 0, 1].forEach((r, i) => q.push(op(i, r)));
    expect(q.takeAll().map((o) => o.id)).toEqual([1, 2, 0]);
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
  });
});
