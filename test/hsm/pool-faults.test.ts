// The session pool under PKCS#11 faults, one row of ../shared/reference/faults.md at a time, injected by the fault
// shim between the pool and SoftHSM2. The key store's session is closed before each pool opens, so the pool's own
// sessions are the only ones on the token: losing the last one logs the token out, as on a real deployment.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pkcs11js from 'pkcs11js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GeneratedKey } from '../../hsm/keygen.ts';
import type { SessionPool } from '../../hsm/session-pool.ts';
import type { FaultControl } from '../fault/fault-control.ts';
import { createTestToken, type TestToken } from '../support/token.ts';
import {
  closeAllPools,
  expectKind,
  freshFaults,
  generateKey,
  openPool,
  outcome,
  poolOptions,
  REAL_MODULE,
  request,
  setUpShim,
  sleep,
  target,
  track,
  verifies,
  waitFor,
} from './pool-support.ts';

let shim: string;
let fc: FaultControl;
let token: TestToken;
let key: GeneratedKey;

beforeAll(() => {
  ({ shim, fc } = setUpShim());
  token = createTestToken('pool-faults');
  key = generateKey(token, 'faults-ec');
});

afterEach(async () => {
  fc.clear();
  await closeAllPools();
});

afterAll(async () => {
  await closeAllPools();
});

const stat = (name: string) => fc.stats()[name] ?? 0;

/** A pool on the shim with fresh shim counters, warmed up so every worker has its session, login and key. */
async function faultPool(overrides: Parameters<typeof poolOptions>[1] = {}): Promise<SessionPool> {
  fc = freshFaults();
  const pool = await openPool(poolOptions(target(token, shim), { workers: 1, pipelineDepth: 1, ...overrides }));
  await signsOk(pool, 8);
  return pool;
}

async function signsOk(pool: SessionPool, n: number): Promise<void> {
  const inputs = Array.from({ length: n }, () => randomBytes(24));
  const sigs = await Promise.all(inputs.map((d) => pool.sign(request(key, d)))).catch((e: unknown) => {
    // Say what the pool looked like: a failure here is usually a state question (down, refused, stalled).
    throw new Error(`signing failed: ${String(e)}; health ${JSON.stringify(pool.health())}; shim ${JSON.stringify(fc.stats())}`, { cause: e });
  });
  sigs.forEach((s, i) => expect(verifies(key.spki, inputs[i]!, s)).toBe(true));
}

describe('session gone (0xB3 CKR_SESSION_HANDLE_INVALID, 0xB0 CKR_SESSION_CLOSED): reopen, retry once', () => {
  it.each([
    ['rv=0xB3', 'C_Sign rv=0xB3'],
    ['rv=0xB0', 'C_Sign rv=0xB0'],
    ['a session really closed under the pool', 'C_Sign close-session'],
    ['rv=0xB3 on C_SignInit', 'C_SignInit rv=0xB3'],
  ])('%s once: the operation succeeds on a new session', async (_name, rule) => {
    const pool = await faultPool();
    const opened = stat('open_sessions');
    fc.inject(`${rule} 1`);
    const data = randomBytes(32);
    const r = await outcome(pool.sign(request(key, data)));
    expectKind(r, 'ok');
    expect(verifies(key.spki, data, r.sig!)).toBe(true);
    expect(stat('faults')).toBe(1);
    expect(stat('open_sessions')).toBe(opened + 1);
    await signsOk(pool, 10);
    expect(stat('open_sessions')).toBe(opened + 1);
  });

  it.each([['C_Sign rv=0xB3'], ['C_Sign rv=0xB0'], ['C_Sign close-session']])(
    '%s on every call: the operation is retried exactly once, then fails with kind device',
    async (rule) => {
      const pool = await faultPool();
      fc.inject(rule);
      const r = await outcome(pool.sign(request(key, randomBytes(32))));
      expectKind(r, 'device');
      expect(r.error!.ckr).toBe(rule.includes('0xB0') ? 0xb0 : 0xb3);
      expect(stat('faults')).toBe(2); // the first attempt and the one retry
      fc.clear();
      await signsOk(pool, 4);
      expect(pool.health().ready).toBe(true);
    },
  );
});

describe('a failed operation does not poison its session', () => {
  it('a C_Sign error that leaves the signing operation active (then 0x90 CKR_OPERATION_ACTIVE): later operations succeed', async () => {
    const pool = await faultPool();
    const opened = stat('open_sessions');
    // The shim answers without calling SoftHSM2, so the C_SignInit before it stays active on the session.
    fc.inject('C_Sign rv=CKR_GENERAL_ERROR 1');
    const r = await outcome(pool.sign(request(key, randomBytes(32))));
    expectKind(r, 'device');
    expect(r.error!.ckr).toBe(0x05);
    await signsOk(pool, 10);
    expect(stat('open_sessions')).toBe(opened + 1);
  });
});

describe('login lost', () => {
  it('logged out while idle (C_SignInit logout): exactly one extra C_Login, then normal service (2 workers, burst)', async () => {
    const pool = await faultPool({ workers: 2, pipelineDepth: 2 });
    await signsOk(pool, 20); // both workers have a session and their key copies
    const logins = stat('logins');
    fc.inject('C_SignInit logout 1');
    // One operation meets the logout while the other worker is idle (SoftHSM2 can answer CKR_GENERAL_ERROR to a
    // C_Sign that a concurrent logout overtakes: a different scenario from this row).
    await signsOk(pool, 1);
    expect(stat('faults')).toBe(1);
    expect(stat('logins')).toBe(logins + 1);
    // Both workers' key handles died with the logout; both find their keys again, neither logs in again.
    await signsOk(pool, 40);
    await signsOk(pool, 40);
    expect(stat('logins')).toBe(logins + 1);
  });

  it('0x101 CKR_USER_NOT_LOGGED_IN on C_SignInit once: one re-login, the operation succeeds', async () => {
    const pool = await faultPool();
    const logins = stat('logins');
    fc.inject('C_SignInit rv=0x101 1');
    const r = await outcome(pool.sign(request(key, randomBytes(32))));
    expectKind(r, 'ok');
    expect(stat('logins')).toBe(logins + 1);
    await signsOk(pool, 10);
    expect(stat('logins')).toBe(logins + 1);
  });

  it('0x101 twice: retried once only, then kind device', async () => {
    const pool = await faultPool();
    fc.inject('C_SignInit rv=0x101');
    const r = await outcome(pool.sign(request(key, randomBytes(32))));
    expectKind(r, 'device');
    expect(stat('faults')).toBe(2);
  });
});

describe('stale key handle (0x82 CKR_OBJECT_HANDLE_INVALID)', () => {
  it('on C_SignInit once: the key is found again and the operation succeeds', async () => {
    const pool = await faultPool();
    // The delay=0 rule applies to no effect but counts every C_FindObjectsInit as a "fault": the key lookups.
    fc.inject(['C_SignInit rv=0x82 1', 'C_FindObjectsInit delay=0']);
    const r = await outcome(pool.sign(request(key, randomBytes(32))));
    expectKind(r, 'ok');
    expect(stat('faults')).toBe(3); // the 0x82, then private and public key looked up again
    await signsOk(pool, 10);
    expect(stat('faults')).toBe(3); // found once, cached again
  });
});

describe('token down (0x32 CKR_DEVICE_REMOVED, 0xE0 CKR_TOKEN_NOT_PRESENT, 0x30 CKR_DEVICE_ERROR)', () => {
  it.each([['0x32'], ['0xE0'], ['0x30']])(
    'rv=%s on every call: 503 fast, not ready, fail fast while down, recovers without a restart',
    async (code) => {
      const pool = await faultPool({ workers: 2, pipelineDepth: 2, reconnectInitialMs: 100, reconnectMaxMs: 400 });
      fc.inject(`* rv=${code}`);
      const first = await outcome(pool.sign(request(key, randomBytes(32))));
      expectKind(first, 'unavailable');
      expect(first.error!.ckr).toBe(Number(code));
      expect(first.error!.retryAfterSeconds).toBe(5);
      expect(first.ms, 'the request that met the failure answered fast').toBeLessThan(1000);
      await waitFor(() => !pool.health().ready, 5000, 'not ready');
      const h = pool.health();
      expect(h.serving).toBeUndefined();
      expect(h.tokens[0]).toMatchObject({ name: 'primary', state: 'down' });
      expect(h.tokens[0]!.error).toMatch(/CKR_/);

      // While down: every new request is refused at once, whatever its priority; nothing queues up.
      const burst = Array.from({ length: 20 }, (_, i) => track(pool.sign(request(key, randomBytes(8), { priority: i % 2 ? 'high' : 'low' }))));
      await Promise.all(burst.map((t) => t.promise));
      for (const t of burst) {
        expectKind(t, 'unavailable');
        expect(t.ms, 'refused while down within 50 ms').toBeLessThan(50);
      }
      expect(pool.health().queued).toEqual({ high: 0, normal: 0, low: 0 });

      await sleep(600); // several reconnect probes fail meanwhile
      expect(pool.health().ready, JSON.stringify(pool.health())).toBe(false);
      const faultsWhileDown = stat('faults');
      expect(faultsWhileDown).toBeGreaterThan(1); // the probes reached the (absent) token

      fc.clear();
      const recoveredIn = await waitFor(() => pool.health().ready, 5000, 'ready again');
      expect(recoveredIn).toBeLessThan(3000);
      expect(pool.health().tokens[0]!.state).toBe('up');
      await signsOk(pool, 20);
    },
  );

  it('operations queued when the token goes down are answered unavailable at once, not left to time out', async () => {
    const pool = await faultPool({ workers: 1, pipelineDepth: 1, deadlineMs: 10_000 });
    fc.inject(['C_Sign delay=200 1', '* rv=0x32']);
    const all = Array.from({ length: 10 }, () => track(pool.sign(request(key, randomBytes(8)))));
    await Promise.all(all.map((t) => t.promise));
    for (const t of all) {
      expectKind(t, 'unavailable');
      expect(t.ms).toBeLessThan(2000);
    }
  });
});

describe('module reset (0x190 CKR_CRYPTOKI_NOT_INITIALIZED)', () => {
  it('rv=0x190 once: re-initialize, reopen, the operation succeeds', async () => {
    const pool = await faultPool();
    const opened = stat('open_sessions');
    fc.inject('C_Sign rv=0x190 1');
    expectKind(await outcome(pool.sign(request(key, randomBytes(32)))), 'ok');
    expect(stat('open_sessions')).toBe(opened + 1);
    await signsOk(pool, 10);
  });

  it('the module really finalized under an idle pool: it initializes again, logs in, finds the key, signs', async () => {
    const pool = await faultPool();
    const logins = stat('logins');
    const p = new pkcs11js.PKCS11();
    p.load(REAL_MODULE);
    p.C_Finalize();
    p.close();
    const r = await outcome(pool.sign(request(key, randomBytes(32))));
    expectKind(r, 'ok');
    expect(stat('logins')).toBe(logins + 1);
    await signsOk(pool, 10);
  });
});

describe('credentials refused (0xA0 CKR_PIN_INCORRECT, 0xA4 CKR_PIN_LOCKED): never retried', () => {
  it.each([['0xA0'], ['0xA4']])('rv=%s on the re-login after a logout: state refused, kind auth, exactly one C_Login', async (code) => {
    const pool = await faultPool({ workers: 2, pipelineDepth: 2, reconnectInitialMs: 50 });
    await signsOk(pool, 10);
    const logins = stat('logins');
    fc.inject(['C_SignInit logout 1', `C_Login rv=${code}`]);
    // The logout meets one operation while the other worker is idle (a logout overtaking a busy worker's C_Sign
    // can get CKR_GENERAL_ERROR from SoftHSM2: another scenario).
    const first = await outcome(pool.sign(request(key, randomBytes(8))));
    expectKind(first, 'auth');
    expect(first.error!.ckr).toBe(Number(code));
    expect(first.error!.retryAfterSeconds).toBeUndefined();
    expect(pool.health().tokens[0]!.state).toBe('refused');
    // Everything after it is refused at once, on either worker: no operation waits, none reaches C_Login.
    const burst = Array.from({ length: 12 }, () => track(pool.sign(request(key, randomBytes(8)))));
    await Promise.all(burst.map((t) => t.promise));
    for (const t of burst) {
      expectKind(t, 'auth');
      expect(t.ms).toBeLessThan(50);
    }
    expect(pool.health().ready).toBe(false);
    const later = await outcome(pool.sign(request(key, randomBytes(8))));
    expectKind(later, 'auth');
    expect(later.ms).toBeLessThan(50);

    // Nothing tries again: not the other worker, not a reconnect timer, not a later request.
    await sleep(500);
    expect(stat('logins')).toBe(logins + 1);
    fc.clear();
    await sleep(300);
    expectKind(await outcome(pool.sign(request(key, randomBytes(8)))), 'auth');
    expect(stat('logins')).toBe(logins + 1);
    expect(pool.health().tokens[0]!.state).toBe('refused');
  });

  it('both workers lose the login under load and the PIN is refused: still exactly one C_Login, state refused', async () => {
    const pool = await faultPool({ workers: 2, pipelineDepth: 2 });
    await signsOk(pool, 10);
    const logins = stat('logins');
    fc.inject(['C_SignInit logout 1', 'C_Login rv=CKR_PIN_INCORRECT']);
    const burst = Array.from({ length: 16 }, () => track(pool.sign(request(key, randomBytes(8)))));
    await Promise.all(burst.map((t) => t.promise));
    // Signed before the logout, refused after it — or, for a C_Sign the logout overtook on the other worker,
    // SoftHSM2's CKR_GENERAL_ERROR. Never a timeout, never a second login attempt.
    for (const t of burst) {
      const what = t.kind === 'device' ? `device ${t.error!.ckr}` : t.kind;
      expect(['ok', 'auth', `device ${0x05}`]).toContain(what);
    }
    expect(burst.filter((t) => t.kind === 'auth').length).toBeGreaterThan(0);
    expect(pool.health().tokens[0]!.state).toBe('refused');
    await sleep(300);
    expect(stat('logins')).toBe(logins + 1);
  });

  it('a token down at open (no DR): SessionPool.open rejects with kind unavailable and leaves no worker behind', async () => {
    fc = freshFaults();
    fc.inject('* rv=0x32');
    const failed = await openPool(poolOptions(target(token, shim), { workers: 2 })).then(
      () => undefined,
      (e: unknown) => e as { kind: string; ckr?: number },
    );
    expect(failed).toMatchObject({ kind: 'unavailable', ckr: 0x32 });
    const faults = fc.stats().faults ?? 0;
    await sleep(500);
    expect(fc.stats().faults ?? 0).toBe(faults); // nothing keeps trying after open gave up
  });

  it('a refused PIN at open: SessionPool.open rejects with kind auth after exactly one C_Login', async () => {
    fc = freshFaults();
    fc.inject('C_Login rv=CKR_PIN_INCORRECT');
    const failed = await openPool(poolOptions(target(token, shim), { workers: 3 })).then(
      () => undefined,
      (e: unknown) => e as { kind: string },
    );
    expect(failed?.kind).toBe('auth');
    expect(stat('logins')).toBe(1);
  });
});

describe('a hung HSM (C_Sign takes 5 s)', () => {
  it('times the caller out at its deadline, queued operations too, keeps the event loop responsive, leaves nothing pending', async () => {
    const pool = await faultPool({ workers: 1, pipelineDepth: 1, deadlineMs: 500, queueLimit: 10 });
    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 10);
    try {
      fc.inject('C_Sign delay=5000 1');
      const hangStart = performance.now();
      const hung = track(pool.sign(request(key, randomBytes(8))));
      const queued = Array.from({ length: 15 }, () => track(pool.sign(request(key, randomBytes(8)))));
      // The queue stays bounded: 10 wait, the rest are shed at once.
      const shed = queued.slice(10);
      await Promise.all(shed.map((t) => t.promise));
      for (const t of shed) expectKind(t, 'busy');

      await hung.promise;
      expectKind(hung, 'timeout');
      expect(hung.ms).toBeGreaterThanOrEqual(480);
      expect(hung.ms).toBeLessThan(1500);
      await Promise.all(queued.map((t) => t.promise));
      // They time out with the hung one (or, landing in the same 20 ms sweep just after the session counts as
      // stuck, are answered unavailable): either way at about the deadline, never after the hang.
      for (const t of queued.slice(0, 10)) {
        expect(['timeout', 'unavailable']).toContain(t.kind);
        expect(t.ms).toBeLessThan(1500);
      }
      // Which of the two answers they get depends on whether the 20 ms sweep that times out the hung operation
      // lands before or after the queued ones' own deadlines (created a fraction of a millisecond later): both are
      // fast, neither waits for the hang.

      // While the only session is stuck past the deadline, new work is refused at once instead of queueing.
      await waitFor(() => !pool.health().ready, 1000, 'not ready while hung');
      const during = await outcome(pool.sign(request(key, randomBytes(8))));
      expect(['unavailable', 'timeout']).toContain(during.kind);
      if (during.kind === 'unavailable') expect(during.ms).toBeLessThan(50);

      const ticksBefore = ticks;
      await sleep(1000);
      expect(ticks - ticksBefore).toBeGreaterThan(40); // ~100 expected: the main thread is not blocked
      expect(maxGap).toBeLessThan(300);

      // The hang ends; the session is handed work again.
      await waitFor(() => pool.health().ready, 8000, 'ready after the hang');
      expect(performance.now() - hangStart).toBeGreaterThan(4500);
      expectKind(await outcome(pool.sign(request(key, randomBytes(8)))), 'ok');
      expect([hung, ...queued, during].every((t) => t.settled)).toBe(true);
    } finally {
      clearInterval(ticker);
    }
  });
});
