/**
 * faults.md Scenarios, the HSM rows, through the CA's HTTP API: the CA runs in this process with its session pool
 * on the PKCS#11 fault shim (which forwards to SoftHSM2), on a fresh database (PostgreSQL when DATABASE_URL is set,
 * else PGlite). After every scenario the four invariants are asserted (test/fault/invariants.ts).
 *
 *   one session killed        → evicted and replaced; the request succeeds on the pool's retry; one certificate
 *   logged out while idle     → one re-login, then normal service
 *   token removed mid-sign    → that request 503, no certificate; not ready within 5 s; recovers without a restart
 *   CRL signing fails         → the previous CRL stays published; the CRL number is not consumed
 *   HSM takes 5 s a signature → 503 at the pool deadline; queue bounded; OCSP keeps serving pre-signed answers;
 *                               event loop responsive
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crlNumberOf, revokedSerials } from '../../http/crl-support.ts';
import { call, makeChain, startTestCa, type TestCa } from '../../http/fixture.ts';
import type { FaultControl } from '../fault-control.ts';
import { FaultLedger } from '../invariants.ts';
import { csrFor, fetchCrl, GRANTS, issueRecorded, ocspAsk, presignNow, readyz, revoke, rowsFor, setUpShim, sleep, waitFor, waitForCrlNumber } from './support.ts';

const DEADLINE_MS = 2000;
const QUEUE_LIMIT = 8;

let fc: FaultControl;
let t: TestCa;
let token: string;
let admin: string;
const ledger = new FaultLedger();
const stat = (k: string) => fc.stats()[k] ?? 0;
let n = 0;
const next = (what: string) => csrFor(`${what}-${++n}`);

beforeAll(async () => {
  const { shim, fc: control } = setUpShim();
  fc = control;
  const chain = await makeChain('fault-hsm');
  t = await startTestCa('fault-hsm', {
    chain,
    config: {
      hsm: { module: shim, token: { label: chain.token.label }, pool: { workers: 2, pipelineDepth: 1, deadlineMs: DEADLINE_MS, queueLimit: QUEUE_LIMIT } },
      crl: { debounceMs: 200, retryMs: 500 },
    },
  });
  token = await t.client('svc', GRANTS);
  admin = await t.client('ops', { ...GRANTS, admin: true });
  await waitForCrlNumber(t.url, ledger, 1n);
  for (let i = 0; i < 3; i++) expect((await issueRecorded(t.url, token, ledger, next('warm'))).status).toBe(201);
  await ledger.check(t.db.knex, 'baseline');
}, 120_000);

afterAll(async () => {
  fc?.clear();
  await t?.close();
});

describe('HSM faults through the CA API, invariants after each', () => {
  it('one session killed: evicted and replaced, the request succeeds on the retry, exactly one certificate', async () => {
    const opened = stat('open_sessions');
    const faults = stat('faults');
    const csr = next('session');
    fc.inject('C_Sign close-session 1');
    const r = await issueRecorded(t.url, token, ledger, csr);
    fc.clear();
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(stat('faults')).toBe(faults + 1);
    // The killed session was replaced by a new one (the fault might have met a background signature instead of
    // this request; either way a session died under the pool and the API kept working).
    await waitFor(() => stat('open_sessions') >= opened + 1, 5000, 'a replacement session');
    const rows = await rowsFor(t.db.knex, csr);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ serial: r.body.serial, status: 'issued', hasDer: true });
    // And again: the pool is whole (no worker lost), service is normal.
    const more = await Promise.all(Array.from({ length: 6 }, () => issueRecorded(t.url, token, ledger, next('session-after'))));
    expect(more.map((m) => m.status)).toEqual(Array(6).fill(201));
    await ledger.check(t.db.knex, 'one session killed');
  });

  it('logged out while idle: exactly one re-login, then normal service', async () => {
    await sleep(300); // idle
    const logins = stat('logins');
    const faults = stat('faults');
    fc.inject('C_SignInit logout 1');
    const r = await issueRecorded(t.url, token, ledger, next('logout'));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(stat('faults')).toBe(faults + 1);
    expect(stat('logins')).toBe(logins + 1);
    fc.clear();
    // Fewer than the normal-priority queue holds: background signatures (OCSP pre-signing of the new certificates)
    // may hold both workers meanwhile, and this scenario is about the re-login, not about shedding load.
    const burst = QUEUE_LIMIT - 2;
    const more = await Promise.all(Array.from({ length: burst }, () => issueRecorded(t.url, token, ledger, next('logout-after'))));
    expect(more.map((m) => m.status), JSON.stringify(more.filter((m) => m.status !== 201).map((m) => m.body))).toEqual(Array(burst).fill(201));
    expect(stat('logins')).toBe(logins + 1);
    expect((await readyz(t.url)).status).toBe(200);
    await ledger.check(t.db.knex, 'logged out while idle');
  });

  it('token removed mid-sign: that request 503 without a certificate; not ready within 5 s; recovers without a restart', async () => {
    expect((await readyz(t.url)).status).toBe(200);
    const csr = next('removed');
    // C_SignInit goes through (slowly), then the token is gone: the C_Sign of the operation in flight, and
    // everything after it, answers CKR_DEVICE_REMOVED.
    fc.inject(['C_SignInit delay=200 1', '* rv=CKR_DEVICE_REMOVED']);
    const injectedAt = performance.now();
    const r = await issueRecorded(t.url, token, ledger, csr);
    expect(r.status, JSON.stringify(r.body)).toBe(503);
    expect(r.body.certificate).toBeUndefined();
    expect(r.body.error?.code).toBe('unavailable');
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(r.ms, 'answered fast, not at a deadline').toBeLessThan(DEADLINE_MS + 1500);
    // No certificate: the serial it took (if any) is closed as failed, never issued.
    for (const row of await rowsFor(t.db.knex, csr)) expect(row).toMatchObject({ status: 'failed', hasDer: false });

    const red = await waitFor(async () => (await readyz(t.url)).status === 503, 5000, '/readyz red');
    expect(performance.now() - injectedAt).toBeLessThan(5000 + r.ms);
    expect(red.ms).toBeLessThan(5000);
    const body = (await readyz(t.url)).body;
    expect(body).toMatchObject({ ready: false, hsm: { ready: false } });

    // While it is gone: 503 at once, and no serial is taken.
    const during = next('removed-during');
    const d = await issueRecorded(t.url, token, ledger, during);
    expect(d.status).toBe(503);
    expect(d.ms).toBeLessThan(2000);
    expect(await rowsFor(t.db.knex, during)).toEqual([]);

    // The token returns: the same process serves again (reconnect with backoff of at most 5 s).
    fc.clear();
    const back = await waitFor(async () => (await readyz(t.url)).status === 200, 20_000, '/readyz green again');
    const ok = await issueRecorded(t.url, token, ledger, next('removed-after'));
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    console.log(`token removed: 503 in ${r.ms.toFixed(0)} ms, red after ${red.ms.toFixed(0)} ms, green ${back.ms.toFixed(0)} ms after the token returned`);
    await ledger.check(t.db.knex, 'token removed mid-sign');
  }, 60_000);

  it('CRL signing fails: the previous CRL stays published and its number is not consumed', async () => {
    const before = await fetchCrl(t.url, ledger);
    expect(before.status).toBe(200);
    const n0 = before.number!;
    const x = await issueRecorded(t.url, token, ledger, next('crl'));
    expect(x.status).toBe(201);

    const failures0 = stat('faults');
    fc.inject('C_Sign rv=CKR_GENERAL_ERROR');
    const rv = await revoke(t.url, admin, x.body.serial, 'superseded');
    expect(rv.status, JSON.stringify(rv.body)).toBe(200);
    // The scheduler tries (debounce 200 ms) and retries (every 500 ms): at least two failed CRL signatures.
    await waitFor(async () => /strongroom_crl_publish_failures_total\{ca="issuing-ca"\} [2-9]/.test((await call<Buffer>(`${t.url}/metrics`)).body.toString()), 15_000, 'two failed CRL publications');
    expect(stat('faults')).toBeGreaterThan(failures0);
    const during = await fetchCrl(t.url, ledger);
    expect(during.number).toBe(n0);
    const numbers = async () => ((await t.db.knex('crls').orderBy('crl_number').select('crl_number')) as { crl_number: string }[]).map((r) => BigInt(r.crl_number));
    expect((await numbers()).at(-1)).toBe(n0);

    fc.clear();
    const crl = await waitForCrlNumber(t.url, ledger, n0 + 1n);
    expect(crlNumberOf(crl)).toBe(n0 + 1n); // the failed attempts consumed nothing
    expect(revokedSerials(crl)).toContain(BigInt(`0x${x.body.serial}`).toString(16));
    expect((await numbers()).slice(-2)).toEqual([n0, n0 + 1n]);
    await ledger.check(t.db.knex, 'CRL signing fails');
  }, 60_000);

  it('HSM takes 5 s per signature: 503 at the pool deadline, queue bounded, OCSP serves pre-signed answers, event loop responsive', async () => {
    // A certificate whose OCSP answer is pre-signed and in memory before the HSM slows down.
    const p = await issueRecorded(t.url, token, ledger, next('slow-ocsp'));
    expect(p.status).toBe(201);
    await presignNow(t);
    expect(await ocspAsk(t.url, t.chain.issuingDer, p.body.serial)).toMatchObject({ responseStatus: 0, certStatus: 'good' });

    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    fc.inject('C_Sign delay=5000');
    try {
      // The first request reaches the HSM and times out at the deadline.
      const first = await issueRecorded(t.url, token, ledger, next('slow'));
      expect(first.status, JSON.stringify(first.body)).toBe(503);
      expect(first.ms, 'answered at the pool deadline, not after the 5 s signature').toBeGreaterThan(DEADLINE_MS - 200);
      expect(first.ms).toBeLessThan(5000);

      // A burst while every worker is stuck: all 503, none slower than the deadline plus slack; the queue stays bounded.
      let maxQueued = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const q = t.ca.pool.health().queued;
          maxQueued = Math.max(maxQueued, q.high + q.normal + q.low);
          await sleep(10);
        }
      })();
      const burst = Promise.all(Array.from({ length: 40 }, (_, i) => issueRecorded(t.url, token, ledger, next(`slow-burst-${i}`))));
      // Meanwhile: OCSP answers from memory, health answers, the event loop turns.
      const ocspAnswers: Awaited<ReturnType<typeof ocspAsk>>[] = [];
      for (let i = 0; i < 5; i++) {
        ocspAnswers.push(await ocspAsk(t.url, t.chain.issuingDer, p.body.serial));
        await sleep(100);
      }
      const health = await call(`${t.url}/healthz`);
      const answers = await burst;
      sampling = false;
      await sampler;
      expect(answers.map((a) => a.status)).toEqual(Array(40).fill(503));
      expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(DEADLINE_MS + 4000);
      expect(maxQueued).toBeLessThanOrEqual(3 * QUEUE_LIMIT);
      // Every one a signed `good` from memory (an answer that waited for the HSM would be tryLater at its deadline).
      for (const ocsp of ocspAnswers) expect(ocsp).toMatchObject({ httpStatus: 200, responseStatus: 0, certStatus: 'good' });
      // The first may queue behind the burst's CSR parsing on this (shared) event loop; the rest come at once.
      const sortedMs = ocspAnswers.map((o) => o.ms).sort((a, b) => a - b);
      expect(sortedMs[2], 'median OCSP latency while the HSM is stuck').toBeLessThan(1000);
      const ocspMs = ocspAnswers.map((o) => o.ms.toFixed(1)).join('/');
      expect(health.status).toBe(200);
      expect(health.ms).toBeLessThan(1000);
      loop.disable();
      const maxLoopMs = loop.max / 1e6;
      console.log(`5 s signatures: first 503 in ${first.ms.toFixed(0)} ms, burst max ${Math.max(...answers.map((a) => a.ms)).toFixed(0)} ms, max queued ${maxQueued}, OCSP ${ocspMs} ms, /healthz ${health.ms.toFixed(1)} ms, event-loop delay p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms max ${maxLoopMs.toFixed(1)} ms`);
      expect(maxLoopMs, 'event loop delay').toBeLessThan(1000);
    } finally {
      loop.disable();
      fc.clear();
    }
    // The stuck calls finish their 5 s; then normal service without a restart.
    await waitFor(async () => (await readyz(t.url)).status === 200, 30_000, '/readyz green after the slow signatures');
    await waitFor(async () => (await issueRecorded(t.url, token, ledger, next('slow-after'))).status === 201, 30_000, 'an issuance succeeding again', 500);
    await ledger.check(t.db.knex, 'HSM takes 5 s per signature');
  }, 120_000);
});
