import { describe, expect, it } from 'vitest';
import { IdTable } from '../../hsm/id-table.ts';

const op = (id: number) => ({ id, name: `op-${id}` });

describe('IdTable', () => {
  it('finds, takes and counts items by id', () => {
    const t = new IdTable<ReturnType<typeof op>>(4);
    for (const id of [1, 2, 3]) t.set(op(id));
    expect(t.size).toBe(3);
    expect(t.get(2)?.name).toBe('op-2');
    expect(t.take(2)?.name).toBe('op-2');
    expect(t.take(2)).toBeUndefined();
    expect(t.get(2)).toBeUndefined();
    expect(t.size).toBe(2);
    expect(t.values().map((o) => o.id).sort()).toEqual([1, 3]);
  });

  it('does not answer for an id that shares a slot with one it holds', () => {
    const t = new IdTable<ReturnType<typeof op>>(4);
    t.set(op(1));
    expect(t.get(5)).toBeUndefined();
    expect(t.take(5)).toBeUndefined();
    expect(t.size).toBe(1);
    expect(t.get(1)?.id).toBe(1);
  });

  it('grows instead of overwriting an item still held from a lap ago', () => {
    const t = new IdTable<ReturnType<typeof op>>(4);
    t.set(op(1));
    for (let id = 2; id <= 9; id++) {
      t.set(op(id));
      if (id > 2) t.take(id - 1);
    }
    // 1 never left; 5 and 9 fell on its slot in a ring of 4.
    expect(t.get(1)?.name).toBe('op-1');
    expect(t.get(9)?.name).toBe('op-9');
    expect(t.size).toBe(2);
    expect(t.values().map((o) => o.id).sort((a, b) => a - b)).toEqual([1, 9]);
  });

  it('lets items be taken while going through values()', () => {
    const t = new IdTable<ReturnType<typeof op>>(8);
    for (let id = 1; id <= 6; id++) t.set(op(id));
    for (const o of t.values()) if (o.id % 2) t.take(o.id);
    expect(t.values().map((o) => o.id).sort()).toEqual([2, 4, 6]);
    expect(t.size).toBe(3);
  });

  it('takes ids past 2^31 by their low bits', () => {
    const t = new IdTable<ReturnType<typeof op>>(4);
    const big = 2 ** 31 + 3;
    t.set(op(big));
    expect(t.get(big)?.id).toBe(big);
    expect(t.get(3)).toBeUndefined();
    expect(t.take(big)?.id).toBe(big);
  });
});
