// Failover to a DR token holding the same key (faults.md: "primary HSM down, DR token holds the same keys").
// The primary is reached through the fault shim, the DR token through SoftHSM2 directly, so "* rv=0x32" takes
// down only the primary. SoftHSM2 cannot copy a non-extractable key between tokens; the shared key is a software
// key imported into both (the test's stand-in for a backup restored into the DR token).
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GeneratedKey } from '../../hsm/keygen.ts';
import { Pkcs11KeyStore } from '../../hsm/key-store.ts';
import type { SessionPool } from '../../hsm/session-pool.ts';
import type { FaultControl } from '../fault/fault-control.ts';
import { createTestToken, type TestToken } from '../support/token.ts';
import {
  closeAllPools,
  expectKind,
  freshFaults,
  generateKey,
  importSameKey,
  openPool,
  outcome,
  poolOptions,
  REAL_MODULE,
  recordingMetrics,
  request,
  setUpShim,
  sleep,
  target,
  track,
  verifies,
  waitFor,
  type KeyRef,
} from './pool-support.ts';

let shim: string;
let fc: FaultControl;
let primary: TestToken;
let dr: TestToken;
/** The same key pair in both tokens. */
let shared: KeyRef;
/** Same label in both tokens, different key pairs: the primary's is `ownPrimary`. */
let ownPrimary: GeneratedKey;
let ownDr: GeneratedKey;

beforeAll(() => {
  ({ shim, fc } = setUpShim());
  primary = createTestToken('pool-primary');
  dr = createTestToken('pool-dr');
  shared = importSameKey([primary, dr], 'shared-ec');
  ownPrimary = generateKey(primary, 'same-label');
  ownDr = generateKey(dr, 'same-label');
});

afterEach(async () => {
  fc.clear();
  await closeAllPools();
});

afterAll(async () => {
  await closeAllPools();
});

async function drPool(pipelineDepth = 2, fresh = true, primaryToken = primary) {
  if (fresh) fc = freshFaults();
  const metrics = recordingMetrics();
  const pool = await openPool(
    poolOptions(target(primaryToken, shim, 'primary'), {
      dr: target(dr, REAL_MODULE, 'dr'),
      workers: 2,
      pipelineDepth,
      reconnectInitialMs: 100,
      reconnectMaxMs: 400,
      metrics,
    }),
  );
  return { pool, metrics };
}

async function signAll(pool: SessionPool, key: KeyRef, n: number): Promise<void> {
  const inputs = Array.from({ length: n }, () => randomBytes(20));
  const sigs = await Promise.all(inputs.map((d) => pool.sign(request(key, d))));
  sigs.forEach((s, i) => expect(verifies(key.spki, inputs[i]!, s)).toBe(true));
}

describe('failover to a DR token holding the same key', () => {
  it('the imported key really is the same key in both tokens, and the two same-label keys really differ', () => {
    for (const t of [primary, dr]) {
      const ks = Pkcs11KeyStore.open({ module: REAL_MODULE, token: { label: t.label }, pin: t.pin });
      try {
        expect(ks.publicKey({ label: shared.label }).spkiSha256).toBe(shared.spkiSha256);
        expect(ks.publicKey({ label: 'same-label' }).spkiSha256).toBe(t === primary ? ownPrimary.spkiSha256 : ownDr.spkiSha256);
      } finally {
        ks.close();
      }
    }
    expect(ownPrimary.spkiSha256).not.toBe(ownDr.spkiSha256);
  });

  it('primary down: operations move to the DR without a restart; when it returns, service fails back', async () => {
    const { pool, metrics } = await drPool();
    await signAll(pool, shared, 20);
    expect(pool.health()).toMatchObject({ ready: true, serving: 'primary' });
    expect(pool.health().tokens.map((t) => [t.name, t.state])).toEqual([
      ['primary', 'up'],
      ['dr', 'up'],
    ]);
    expect(new Set(metrics.ops.map((o) => o.token))).toEqual(new Set(['primary']));

    fc.inject('* rv=0x32');
    // The request that meets the failure gets its 503; it is not silently signed twice.
    expectKind(await outcome(pool.sign(request(shared, randomBytes(8)))), 'unavailable');
    await waitFor(() => pool.health().serving === 'dr', 2000, 'serving dr');
    expect(pool.health().ready).toBe(true);
    expect(pool.health().tokens[0]!.state).toBe('down');

    metrics.ops.length = 0;
    await signAll(pool, shared, 200);
    expect(metrics.ops.filter((o) => o.outcome === 'ok').map((o) => o.token)).toEqual(Array(200).fill('dr'));

    fc.clear();
    await waitFor(() => pool.health().serving === 'primary', 5000, 'failback to primary');
    await sleep(50); // operations already at the DR finish there
    metrics.ops.length = 0;
    await signAll(pool, shared, 50);
    expect(new Set(metrics.ops.map((o) => o.token))).toEqual(new Set(['primary']));
  });

  it('under continuous load only the operations already at the primary fail; the rest are served by the DR', async () => {
    const pipelineDepth = 2;
    const { pool } = await drPool(pipelineDepth);
    const results: ReturnType<typeof track>[] = [];
    let running = true;
    const loops = Array.from({ length: 8 }, async () => {
      while (running) {
        const t = track(pool.sign(request(shared, randomBytes(12))));
        results.push(t);
        await t.promise;
      }
    });
    await sleep(200);
    fc.inject('* rv=0x32');
    await waitFor(() => pool.health().serving === 'dr', 2000, 'serving dr');
    await sleep(300);
    const failedAtSwitch = results.filter((t) => t.settled && t.kind !== 'ok');
    fc.clear();
    await waitFor(() => pool.health().serving === 'primary', 5000, 'failback');
    await sleep(200);
    running = false;
    await Promise.all(loops);
    const failed = results.filter((t) => t.kind !== 'ok');
    for (const t of failed) expectKind(t, 'unavailable');
    // At most what the primary's two workers held (2 × pipelineDepth), and nothing failed on the way back.
    expect(failed.length).toBeLessThanOrEqual(2 * pipelineDepth);
    expect(failed.length).toBe(failedAtSwitch.length);
    expect(results.filter((t) => t.kind === 'ok').length).toBeGreaterThan(100);
  });

  it('a DR key with the right label but another public key is never used: key-mismatch, no signature', async () => {
    const { pool, metrics } = await drPool();
    expectKind(await outcome(pool.sign(request(ownPrimary, randomBytes(8)))), 'ok');
    fc.inject('* rv=0x32');
    await outcome(pool.sign(request(ownPrimary, randomBytes(8))));
    await waitFor(() => pool.health().serving === 'dr', 2000, 'serving dr');
    metrics.ops.length = 0;

    const r = await outcome(pool.sign(request(ownPrimary, randomBytes(8))));
    expectKind(r, 'key-mismatch');
    expect(metrics.ops).toEqual([{ token: 'dr', outcome: 'key-mismatch' }]);
    // The DR itself works: the key it does share is served there.
    await signAll(pool, shared, 5);
  });

  it('primary down at open: the pool opens on the DR; when the primary returns, all its workers serve again', async () => {
    fc = freshFaults();
    fc.inject('* rv=0x32');
    const { pool, metrics } = await drPool(2, false);
    expect(pool.health()).toMatchObject({ ready: true, serving: 'dr' });
    expect(pool.health().tokens[0]!.state).toBe('down');
    await signAll(pool, shared, 10);
    expect(new Set(metrics.ops.map((o) => o.token))).toEqual(new Set(['dr']));
    await sleep(300); // reconnect attempts fail meanwhile

    fc.clear();
    await waitFor(() => pool.health().serving === 'primary', 5000, 'primary back');
    // Not one worker: the two the pool was configured with.
    await waitFor(() => pool.health().tokens[0]!.workers === 2, 3000, `two primary workers, health ${JSON.stringify(pool.health())}`);
    metrics.ops.length = 0;
    await signAll(pool, shared, 40);
    expect(new Set(metrics.ops.map((o) => o.token))).toEqual(new Set(['primary']));
    expect(fc.stats().max_concurrent_sign).toBeLessThanOrEqual(2);
  });

  it('primary PIN refused at open while the DR serves: the primary is never tried again (one C_Login, no new sessions)', async () => {
    // A token nothing in this process has logged in to yet (login state is per application and token, and
    // sessions left open by earlier tests would keep the primary logged in).
    const fresh = createTestToken('pool-refused');
    fc = freshFaults();
    fc.inject('C_Login rv=CKR_PIN_INCORRECT');
    const { pool } = await drPool(2, false, fresh);
    expect(pool.health()).toMatchObject({ ready: true, serving: 'dr' });
    expect(pool.health().tokens[0]!.state).toBe('refused');
    await signAll(pool, shared, 10);
    await sleep(1000); // ten reconnect periods
    expect(fc.stats().logins).toBe(1);
    expect(fc.stats().open_sessions).toBe(1);
    expect(pool.health().tokens[0]!.state).toBe('refused');
    await signAll(pool, shared, 10);
  });

  it('a request that names no public key is not sent to the DR token (it could sign with another key)', async () => {
    const { pool, metrics } = await drPool();
    const noSpki = (k: GeneratedKey) => pool.sign({ key: { label: k.label }, algorithm: 'ecdsa-sha256', data: randomBytes(8) });
    // On the primary a request without an SPKI is served as before.
    const onPrimary = await outcome(noSpki(ownPrimary));
    expectKind(onPrimary, 'ok');
    fc.inject('* rv=0x32');
    await outcome(noSpki(ownPrimary));
    await waitFor(() => pool.health().serving === 'dr', 2000, 'serving dr');
    metrics.ops.length = 0;
    const r = await outcome(noSpki(ownPrimary));
    expectKind(r, 'unavailable');
    expect(r.error!.message).toMatch(/names no public key/);
    expect(metrics.ops).toEqual([]); // never reached the DR token
  });
});
