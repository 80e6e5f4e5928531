// The HSM pool's SLI metrics as prom-client exposes them, from a real pool on SoftHSM2: availability of both tokens
// (primary and DR), operations by outcome, latency by key, and rejections by reason (busy past the queue limit,
// timeout past the deadline) and priority.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { Pkcs11KeyStore } from '../../hsm/key-store.ts';
import { promPoolMetrics } from '../../hsm/prom-pool-metrics.ts';
import { SessionPool } from '../../hsm/session-pool.ts';
import { SOFTHSM_MODULE } from '../../hsm/soft-token.ts';
import { createTestToken, type TestToken } from '../support/token.ts';

describe('promPoolMetrics on a real pool', () => {
  let primary: TestToken;
  let dr: TestToken;
  let spki: string;
  const registry = new Registry();
  let pool: SessionPool;

  beforeAll(async () => {
    primary = createTestToken('pm-primary');
    dr = createTestToken('pm-dr');
    const ks = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: primary.label }, pin: primary.pin });
    spki = ks.generate({ type: 'ec-p256', label: 'k1' }).spkiSha256;
    ks.close();
    pool = await SessionPool.open({
      primary: { name: 'primary', module: SOFTHSM_MODULE, token: { label: primary.label }, pin: primary.pin },
      dr: { name: 'dr', module: SOFTHSM_MODULE, token: { label: dr.label }, pin: dr.pin },
      workers: 1,
      pipelineDepth: 1,
      queueLimit: 2,
      deadlineMs: 2000,
      keyHandles: 'token',
      metrics: promPoolMetrics(registry),
    });
  }, 60_000);
  afterAll(async () => pool?.close());

  it('counts successes, busy and timeout rejections, and shows both tokens up', async () => {
    const sign = (deadlineMs?: number) => pool.sign({ key: { label: 'k1' }, spki, algorithm: 'ecdsa-sha256', data: new Uint8Array(32), ...(deadlineMs ? { deadlineMs } : {}) });
    await sign();
    // More than the queue holds at once: the rest are refused at once as busy.
    const burst = await Promise.allSettled(Array.from({ length: 40 }, () => sign()));
    expect(burst.some((r) => r.status === 'rejected' && (r.reason as { kind: string }).kind === 'busy')).toBe(true);
    // Deadlines that pass while this thread is busy: the next sweep answers them as timed out.
    const pending = Array.from({ length: 3 }, () => sign(5));
    const until = performance.now() + 60;
    while (performance.now() < until) {
      // busy: no results are read and no sweep runs until the deadlines are long past
    }
    const late = await Promise.allSettled(pending);
    expect(late.some((r) => r.status === 'rejected' && (r.reason as { kind: string }).kind === 'timeout')).toBe(true);
    await new Promise((r) => setTimeout(r, 100)); // a sweep samples the gauges
    const text = await registry.metrics();
    expect(text).toMatch(/^strongroom_hsm_token_up\{token="primary"\} 1$/m);
    expect(text).toMatch(/^strongroom_hsm_token_up\{token="dr"\} 1$/m);
    expect(text).toMatch(/^strongroom_hsm_operations_total\{token="primary",operation="sign",outcome="ok"\} [1-9]/m);
    expect(text).toMatch(/^strongroom_hsm_operation_seconds_count\{token="primary",operation="sign",key="k1",outcome="ok"\} [1-9]/m);
    expect(text).toMatch(/^strongroom_hsm_rejected_total\{reason="busy",priority="normal"\} [1-9]/m);
    expect(text).toMatch(/^strongroom_hsm_rejected_total\{reason="timeout",priority="normal"\} [1-9]/m);
    expect(text).toMatch(/^strongroom_hsm_queue_depth\{priority="normal"\} 0$/m);
  }, 60_000);
});
