// A wrong PIN costs exactly one C_Login at the token, however the token is opened (key store, or a pool of
// workers): the token's retry counter must never see Strongroom guess. Counted by the fault shim, which wraps the
// real SoftHSM2 and forwards every call; SoftHSM2 itself answers the PIN.
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmError, Pkcs11KeyStore, PoolSigner, SessionPool, type GeneratedKey, type SessionPoolOptions } from '../../hsm/index.ts';
import { SOFTHSM_MODULE } from '../../hsm/soft-token.ts';
import { buildFaultShim } from '../fault/build-shim.ts';
import { FaultControl } from '../fault/fault-control.ts';
import { createTestToken, type TestToken } from '../support/token.ts';

const CKR_PIN_INCORRECT = 0xa0;
const CKR_PIN_LOCKED = 0xa4;
const WRONG_PIN = 'wrong-pin-58213';

let fc: FaultControl;
let shim: string;
let token: TestToken;
/** SoftHSM2 loaded directly, to read the token's own PIN flags. */
let direct: pkcs11js.PKCS11;
let key: GeneratedKey;
const pools: SessionPool[] = [];

function logins(): number {
  return fc.stats().logins ?? 0;
}

function slot(): Buffer {
  const found = direct.C_GetSlotList(true).find((s) => direct.C_GetTokenInfo(s).label.replace(/[\0 ]+$/, '') === token.label);
  if (found === undefined) throw new Error(`token ${token.label} not visible`);
  return found;
}

function tokenFlags(): number {
  return direct.C_GetTokenInfo(slot()).flags;
}

/** Whether this application is logged in to the token (login state is per application, seen by every session). */
function loggedIn(): boolean {
  const session = direct.C_OpenSession(slot(), pkcs11js.CKF_SERIAL_SESSION);
  try {
    const state = direct.C_GetSessionInfo(session).state;
    return state === 1 || state === 3; // CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS
  } finally {
    direct.C_CloseSession(session);
  }
}

function poolOptions(pin: string, workers: number): SessionPoolOptions {
  return {
    primary: { name: 'primary', module: shim, token: { label: token.label }, pin },
    workers,
    pipelineDepth: 4,
    queueLimit: 64,
    deadlineMs: 10_000,
    keyHandles: 'token',
    // Short, so that a background retry (there must be none) would happen within the test's wait.
    reconnectInitialMs: 50,
    reconnectMaxMs: 100,
  };
}

async function openPool(pin: string, workers: number): Promise<SessionPool> {
  const pool = await SessionPool.open(poolOptions(pin, workers));
  pools.push(pool);
  return pool;
}

async function rejection(fn: () => unknown): Promise<HsmError> {
  try {
    await fn();
  } catch (e) {
    expect(e).toBeInstanceOf(HsmError);
    const err = e as HsmError;
    expect(err.message).not.toContain(WRONG_PIN);
    expect(err.message).not.toContain(token.pin);
    return err;
  }
  throw new Error('expected an HsmError, the call succeeded');
}

beforeAll(() => {
  fc = new FaultControl(mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), 'login-fault-')));
  fc.applyEnv(); // before the shim is loaded: it reads its environment then and on every C_Initialize
  shim = buildFaultShim();
  token = createTestToken('login', shim);
  direct = new pkcs11js.PKCS11();
  direct.load(SOFTHSM_MODULE);
  try {
    direct.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    if ((e as pkcs11js.Pkcs11Error).code !== 0x191) throw e; // CKR_CRYPTOKI_ALREADY_INITIALIZED
  }
  // A key to sign with later. Closing the store closes the application's only session: logged out again.
  const store = Pkcs11KeyStore.open({ module: shim, token: { label: token.label }, pin: token.pin });
  try {
    key = store.generate({ type: 'ec-p256', label: 'login-test' });
  } finally {
    store.close();
  }
  expect(loggedIn()).toBe(false);
});

afterAll(async () => {
  fc?.clear();
  await Promise.all(pools.map((p) => p.close()));
});

describe('a wrong PIN', () => {
  it('Pkcs11KeyStore.open: kind auth, exactly one C_Login reached the token', () => {
    expect(tokenFlags() & pkcs11js.CKF_USER_PIN_COUNT_LOW).toBe(0);
    const before = logins();
    let err: unknown;
    try {
      Pkcs11KeyStore.open({ module: shim, token: { label: token.label }, pin: WRONG_PIN });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HsmError);
    expect(err).toMatchObject({ kind: 'auth', ckr: CKR_PIN_INCORRECT });
    expect((err as HsmError).message).toMatch(/wrong PIN/);
    expect((err as HsmError).message).not.toContain(WRONG_PIN);
    expect((err as HsmError).retryAfterSeconds).toBeUndefined();
    expect(logins() - before).toBe(1);
    // The attempt went through the shim to the SoftHSM2 that holds the token: the token itself counted it.
    expect(tokenFlags() & pkcs11js.CKF_USER_PIN_COUNT_LOW).not.toBe(0);
  });

  it('SessionPool.open with 4 workers: kind auth, exactly one C_Login, and no retry afterwards', async () => {
    const before = logins();
    const err = await rejection(() => openPool(WRONG_PIN, 4));
    expect(err).toMatchObject({ kind: 'auth', ckr: CKR_PIN_INCORRECT });
    expect(logins() - before).toBe(1);
    // Nothing keeps trying in the background (reconnect backoff is 50 ms here).
    await sleep(400);
    expect(logins() - before).toBe(1);
  });

  it('a PIN the token reports locked: kind auth, one attempt, for the key store and for the pool', async () => {
    fc.inject('C_Login rv=CKR_PIN_LOCKED');
    try {
      let before = logins();
      const ksErr = await rejection(() => Pkcs11KeyStore.open({ module: shim, token: { label: token.label }, pin: token.pin }));
      expect(ksErr).toMatchObject({ kind: 'auth', ckr: CKR_PIN_LOCKED });
      expect(ksErr.message).toMatch(/locked/);
      expect(logins() - before).toBe(1);

      before = logins();
      const poolErr = await rejection(() => openPool(token.pin, 4));
      expect(poolErr).toMatchObject({ kind: 'auth', ckr: CKR_PIN_LOCKED });
      expect(logins() - before).toBe(1);
      await sleep(400);
      expect(logins() - before).toBe(1);
    } finally {
      fc.clear();
    }
  });
});

describe('after failed attempts', () => {
  it('SoftHSM2 has not locked the PIN: a 4-worker pool with the correct PIN logs in once and signs', async () => {
    const flags = tokenFlags();
    expect(flags & pkcs11js.CKF_USER_PIN_LOCKED).toBe(0);
    expect(flags & pkcs11js.CKF_USER_PIN_COUNT_LOW).not.toBe(0);
    expect(loggedIn()).toBe(false);

    const before = logins();
    const pool = await openPool(token.pin, 4);
    // One C_Login for four workers: the first logs in, the others find the application's login in place.
    expect(logins() - before).toBe(1);
    // A good login resets the token's failure count.
    expect(tokenFlags() & pkcs11js.CKF_USER_PIN_COUNT_LOW).toBe(0);
    const health = pool.health();
    expect(health.ready).toBe(true);
    expect(health.tokens[0]).toMatchObject({ name: 'primary', state: 'up', workers: 4 });

    const signer = new PoolSigner(pool, { label: 'login-test' }, 'ec-p256', key.spki);
    const data = Buffer.from('signed after a refused PIN');
    const sigs = await Promise.all(Array.from({ length: 8 }, () => signer.sign(data)));
    const pub = createPublicKey({ key: key.spki, format: 'der', type: 'spki' });
    for (const sig of sigs) expect(verify('sha256', data, pub, sig)).toBe(true);
    expect(logins() - before).toBe(1);
    await pool.close();
  });

  it('the correct PIN opens the key store too', () => {
    const store = Pkcs11KeyStore.open({ module: shim, token: { label: token.label }, pin: token.pin });
    try {
      expect(store.token().label).toBe(token.label);
      expect(store.publicKey({ label: 'login-test' }).spkiSha256).toBe(key.spkiSha256);
    } finally {
      store.close();
    }
  });

  // A worker whose login is refused at start must close its session: a leaked one would keep the application
  // logged in after every pool and key store is closed.
  it('closing every pool and key store logs the application out, even after refused pool opens', async () => {
    await Promise.all(pools.map((p) => p.close()));
    expect(loggedIn()).toBe(false);
  });
});
