// When the scheduler's periodic check makes a delta CRL, with fakes for the service and the store (the integration
// test, delta-crl.test.ts, covers the delta that follows every complete CRL): none yet, past half its validity, or
// older than the newest complete CRL → a delta; a fresh one → nothing; a complete CRL due → the complete one, then
// its delta; a failed delta is reported and tried again at the next check; deltas off → never.
import { describe, expect, it } from 'vitest';
import type { CrlRow } from '../../ca/db/crl-store.ts';
import type { Issuer } from '../../ca/issuance/issuer-registry.ts';
import { CrlScheduler } from '../../ca/revocation/crl-scheduler.ts';

const HOUR = 3_600_000;
const NOW = new Date('2026-11-29T12:00:00Z');
const issuer = { row: { id: 1, name: 'issuing-ca' } } as unknown as Issuer;

const crl = (crlNumber: bigint, ageMs: number, validityMs: number, deltaBase?: bigint): CrlRow => ({
  caId: 1,
  crlNumber,
  thisUpdate: new Date(NOW.getTime() - ageMs),
  nextUpdate: new Date(NOW.getTime() - ageMs + validityMs),
  der: new Uint8Array(0),
  createdAt: NOW,
  ...(deltaBase !== undefined ? { deltaBase } : {}),
});

function scheduler(state: { complete?: CrlRow; delta?: CrlRow }, o: { deltas?: boolean; failDelta?: number } = {}) {
  const calls: string[] = [];
  const errors: unknown[] = [];
  let failures = o.failDelta ?? 0;
  const s = new CrlScheduler({
    crl: {
      publishesDeltas: o.deltas ?? true,
      publish: async () => {
        calls.push('complete');
        return crl(9n, 0, 96 * HOUR);
      },
      publishDelta: async () => {
        calls.push('delta');
        if (failures-- > 0) throw new Error('HSM busy');
        return crl(10n, 0, HOUR, 1n);
      },
    },
    crls: { latest: async () => state.complete, latestDelta: async () => state.delta },
    issuers: { all: () => [issuer], byId: () => issuer },
    clock: () => NOW,
    debounceMs: 10,
    checkIntervalMs: 60_000,
    retryMs: 10,
    onError: (_, e) => errors.push(e),
  });
  return { s, calls, errors };
}

describe('CrlScheduler.check with delta CRLs', () => {
  const fresh = crl(5n, HOUR, 96 * HOUR);
  it.each<[string, { complete?: CrlRow; delta?: CrlRow }, string[]]>([
    ['no delta yet', { complete: fresh }, ['delta']],
    ['a fresh delta, newer than the complete CRL', { complete: fresh, delta: crl(6n, 10 * 60_000, HOUR, 1n) }, []],
    ['a delta past half its validity', { complete: fresh, delta: crl(6n, 31 * 60_000, HOUR, 1n) }, ['delta']],
    ['a delta older than the newest complete CRL', { complete: fresh, delta: crl(4n, 10 * 60_000, HOUR, 1n) }, ['delta']],
    ['a complete CRL due: the complete one, then its delta', { complete: crl(5n, 49 * HOUR, 96 * HOUR), delta: crl(6n, 10 * 60_000, HOUR, 1n) }, ['complete', 'delta']],
    ['no complete CRL yet: the complete one, then its delta', {}, ['complete', 'delta']],
  ])('%s', async (_, state, expected) => {
    const { s, calls, errors } = scheduler(state);
    await s.check();
    await s.stop();
    expect(calls).toEqual(expected);
    expect(errors).toEqual([]);
  });

  it('deltas off: never a delta, whatever the state', async () => {
    const { s, calls } = scheduler({ complete: fresh }, { deltas: false });
    await s.check();
    await s.stop();
    expect(calls).toEqual([]);
  });

  it('a failed delta is reported, and the next check tries again', async () => {
    const { s, calls, errors } = scheduler({ complete: fresh }, { failDelta: 1 });
    await s.check();
    expect(errors.map((e) => (e as Error).message)).toEqual(['HSM busy']);
    await s.check();
    await s.stop();
    expect(calls).toEqual(['delta', 'delta']);
    expect(errors).toHaveLength(1);
  });
});
