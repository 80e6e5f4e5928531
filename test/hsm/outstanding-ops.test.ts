import { describe, expect, it } from 'vitest';
import { OutstandingOps } from '../../hsm/outstanding-ops.ts';

describe('OutstandingOps', () => {
  it('keeps dispatch order: the oldest held is the first dispatched that has not come back', () => {
    const o = new OutstandingOps(4);
    o.add(10, 1000);
    o.add(11, 1001);
    o.add(12, 1002);
    expect(o.oldestAt()).toBe(1000);
    expect(o.remove(11)).toBe(true);
    expect(o.oldestAt()).toBe(1000);
    expect(o.remove(10)).toBe(true);
    expect(o.oldestAt()).toBe(1002);
    expect(o.size).toBe(1);
  });

  it('says when an id is not held', () => {
    const o = new OutstandingOps(2);
    o.add(1, 5);
    expect(o.remove(2)).toBe(false);
    expect(o.remove(1)).toBe(true);
    expect(o.remove(1)).toBe(false);
    expect(o.oldestAt()).toBeUndefined();
    expect(o.size).toBe(0);
  });

  it('grows past its capacity without losing order', () => {
    const o = new OutstandingOps(2);
    for (let i = 0; i < 7; i++) o.add(i, 100 + i);
    expect(o.size).toBe(7);
    o.remove(0);
    expect(o.oldestAt()).toBe(101);
    expect(o.drain()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(o.size).toBe(0);
    expect(o.oldestAt()).toBeUndefined();
  });

  it('holds ids beyond 32 bits exactly', () => {
    const o = new OutstandingOps(1);
    o.add(2 ** 40 + 1, 7);
    expect(o.remove(2 ** 40)).toBe(false);
    expect(o.drain()).toEqual([2 ** 40 + 1]);
  });
});
