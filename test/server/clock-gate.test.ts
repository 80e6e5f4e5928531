// While the clock check fails, nothing that carries the time is signed: the gated pool refuses without reaching the
// pool it wraps (HsmUnavailable, which OCSP answers as tryLater), and passes through once the check passes again.
import { describe, expect, it } from 'vitest';
import { clockGatedPool } from '../../ca/server/clock-gated-pool.ts';
import { HsmUnavailable, type PoolHealth, type SignRequest, type SigningPool } from '../../hsm/index.ts';

function recordingPool(): SigningPool & { calls: SignRequest[] } {
  const calls: SignRequest[] = [];
  return {
    calls,
    sign: async (req) => {
      calls.push(req);
      return new Uint8Array([1, 2, 3]);
    },
    health: () => ({ ready: true, serving: 'primary', tokens: [], queued: { high: 0, normal: 0, low: 0 }, inFlight: 0 }) as PoolHealth,
    close: async () => undefined,
  };
}

const req: SignRequest = { key: { label: 'k' }, algorithm: 'ecdsa-sha256', data: new Uint8Array(32), priority: 'high' } as unknown as SignRequest;

describe('clockGatedPool', () => {
  it('refuses while the clock is off, without calling the pool; signs again once it is right', async () => {
    let ok = false;
    const inner = recordingPool();
    const gated = clockGatedPool(inner, () => ok);
    await expect(gated.sign(req)).rejects.toBeInstanceOf(HsmUnavailable);
    await expect(gated.sign(req)).rejects.toThrow(/clock is out of tolerance/);
    expect(inner.calls).toHaveLength(0);
    ok = true;
    await expect(gated.sign(req)).resolves.toEqual(new Uint8Array([1, 2, 3]));
    expect(inner.calls).toEqual([req]);
  });

  it('reports the wrapped pool health: a clock problem is not an HSM problem', () => {
    const gated = clockGatedPool(recordingPool(), () => false);
    expect(gated.health().ready).toBe(true);
  });
});
