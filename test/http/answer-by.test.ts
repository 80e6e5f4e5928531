import { describe, expect, it } from 'vitest';
import { answerBy } from '../../ca/http/answer-by.ts';

const after = <T>(ms: number, f: () => T) => new Promise<T>((resolve, reject) => setTimeout(() => {
  try {
    resolve(f());
  } catch (e) {
    reject(e);
  }
}, ms));
const late = () => new Error('late');

describe('answerBy', () => {
  it.each([
    { what: 'work done before the deadline', work: () => after(10, () => 'done'), deadlineMs: 200, expected: { value: 'done' } },
    { what: 'work failing before the deadline', work: () => after(10, () => { throw new Error('own'); }), deadlineMs: 200, expected: { error: 'own' } },
    { what: 'work past the deadline', work: () => after(300, () => 'too late'), deadlineMs: 50, expected: { error: 'late' } },
    // Its own failure after the deadline must not surface as an unhandled rejection (vitest fails the run on one).
    { what: 'work failing after the deadline', work: () => after(150, () => { throw new Error('own, later'); }), deadlineMs: 50, expected: { error: 'late' } },
    { what: 'a deadline already past', work: () => after(50, () => 'done'), deadlineMs: -10, expected: { error: 'late' } },
  ])('$what', async ({ work, deadlineMs, expected }) => {
    const t0 = performance.now();
    const answer = answerBy(t0 + deadlineMs, work(), late).then((value) => ({ value }), (e: Error) => ({ error: e.message }));
    expect(await answer).toEqual(expected);
    if ('error' in expected && expected.error === 'late') expect(performance.now() - t0).toBeLessThan(Math.max(deadlineMs, 0) + 100);
    await new Promise((r) => setTimeout(r, 200));
  });
});
