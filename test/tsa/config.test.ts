// The tsa block of the server configuration: strict, with defaults.
import { describe, expect, it } from 'vitest';
import { parseCaServerConfig } from '../../ca/server/config.ts';
import { DEFAULT_TSA_POLICY } from '../../ca/tsa/tsa-config.ts';

const base = { hsm: { token: { label: 'x' } } };

describe('tsa config', () => {
  it('is off by default, with the default policy, ±1 s and the database drift check', () => {
    const c = parseCaServerConfig(base).tsa;
    expect(c).toMatchObject({ enabled: false, policies: [DEFAULT_TSA_POLICY], accuracyMs: 1000, clock: { check: 'database', toleranceMs: 1000 }, anchor: { enabled: true, intervalMs: 3_600_000 } });
    expect(c.commit).toEqual({ delayMs: 12, maxBatch: 500, maxConcurrent: 1, batchTarget: 128 });
  });

  it('refuses unknown keys, bad OIDs, repeated policies and unknown clock checks, naming the path', () => {
    for (const [tsa, path] of [
      [{ enabeld: true }, 'tsa'],
      [{ policies: ['1.2.x'] }, 'tsa.policies.0'],
      [{ policies: ['1.2.3', '1.2.3'] }, 'tsa.policies'],
      [{ clock: { check: 'ntp' } }, 'tsa.clock.check'],
      [{ clock: { check: 'none', toleranceMs: 5 } }, 'tsa.clock'],
      [{ commit: { delayMs: -1 } }, 'tsa.commit.delayMs'],
      [{ commit: { batchTarget: 0 } }, 'tsa.commit.batchTarget'],
    ] as const) {
      let error: { issues?: { path: (string | number)[] }[] } | undefined;
      try {
        parseCaServerConfig({ ...base, tsa });
      } catch (e) {
        error = e as typeof error;
      }
      expect(error?.issues?.map((i) => i.path.join('.'))).toContain(path);
    }
  });
});
