// Issuance signs behind OCSP and CRL work (strict priority). While more of that is queued than the HSM's sessions
// hold, a certificate would wait out its deadline and leave a failed row (seen in bench:soak: thousands of failed
// rows and no certificate issued while OCSP was overloaded). So it is refused first: 503 + Retry-After, no serial
// taken, no HSM call — and issued again as soon as the backlog is gone.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolHealth } from '../../hsm/index.ts';
import { buildCsr, cnName, extensionRequest, gn, pem, san } from '../csr/support.ts';
import { issue, startTestCa, type TestCa } from '../http/fixture.ts';

const csr = () => pem(buildCsr({ keyPair: generateKeyPairSync('ec', { namedCurve: 'P-256' }), subject: cnName('b.svc.internal'), attributes: extensionRequest(san(gn.dns('b.svc.internal'))) }));

describe('issuance while higher-priority signing saturates the HSM', () => {
  let t: TestCa;
  let token: string;
  let highQueued = 0;

  beforeAll(async () => {
    t = await startTestCa('hsm-busy', { config: { hsm: { pool: { workers: 2, pipelineDepth: 4 } } } as never });
    token = await t.client('svc', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
    const real = t.pool.health.bind(t.pool);
    // What the pool reports: the real health, with `highQueued` high-priority operations waiting.
    t.pool.health = (): PoolHealth => {
      const h = real();
      return { ...h, queued: { ...h.queued, high: h.queued.high + highQueued } };
    };
  });
  afterAll(async () => t?.close());

  it.each([
    ['a backlog the sessions hold (workers × depth = 8)', 8, 201],
    ['one operation more than they hold', 9, 503],
    ['thousands queued', 4000, 503],
  ])('%s → %i', async (_what, queued, status) => {
    highQueued = queued;
    const before = await t.counters();
    const r = await issue(t, token, { csr: csr(), profile: 'tls-server' });
    highQueued = 0;
    expect(r.status).toBe(status);
    const after = await t.counters();
    if (status === 503) {
      expect(r.body.error).toEqual({ code: 'unavailable', message: 'the HSM is busy; try again' });
      expect(r.headers.get('retry-after')).toBe('1');
      expect(after).toEqual(before); // no serial reserved, no HSM call
    } else {
      expect(after.rows).toBe(before.rows + 1);
    }
  });
});
