// Proves the PKCS#11 fault shim itself: forwarding, each action, counts, run-time rule changes and statistics.
// Talks to pkcs11js directly; runs in its own process, so C_Finalize at the end is safe.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFaultShim } from './build-shim.ts';
import { FaultControl, validateFaultRule } from './fault-control.ts';

const LABEL = 'fault-shim-test';
const SO_PIN = 'fault-so-1234';
const USER_PIN = 'fault-user-1234';
const P256_OID = Buffer.from('06082a8648ce3d030107', 'hex');
const ECDSA = { mechanism: pkcs11js.CKM_ECDSA };

const CKR_DEVICE_ERROR = 0x30;
const CKR_SESSION_HANDLE_INVALID = 0xb3;
const CKR_USER_NOT_LOGGED_IN = 0x101;
const CKR_KEY_HANDLE_INVALID = 0x60;
const CKR_OBJECT_HANDLE_INVALID = 0x82;
// Session states (pkcs11js does not export CKS_*).
const CKS_RW_PUBLIC_SESSION = 2;
const CKS_RW_USER_FUNCTIONS = 3;

type Handle = Buffer;

let fc: FaultControl;
let p: pkcs11js.PKCS11;
let slot: Handle;
let session: Handle;
let privateKey: Handle;
let publicKey: Handle;

function trimLabel(label: string): string {
  return label.replace(/[\0 ]+$/, '');
}

/** Runs fn, expects a Pkcs11Error and returns its CKR code. */
function ckrOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(pkcs11js.Pkcs11Error);
    return (err as pkcs11js.Pkcs11Error).code;
  }
  throw new Error('expected a PKCS#11 error, the call succeeded');
}

function digest(): Buffer {
  return Buffer.alloc(32, 0x5a);
}

function sign(on: Handle = session): Buffer {
  p.C_SignInit(on, ECDSA, privateKey);
  return p.C_Sign(on, digest(), Buffer.alloc(128));
}

function findPrivateKey(): Handle {
  p.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_LABEL, value: 'fault-shim-key' },
  ]);
  const found = p.C_FindObjects(session, 2);
  p.C_FindObjectsFinal(session);
  expect(found).toHaveLength(1);
  return found[0]!;
}

function openSession(): Handle {
  return p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
}

beforeAll(() => {
  const root = process.env.STRONGROOM_TEST_ROOT ?? tmpdir();
  fc = new FaultControl(mkdtempSync(join(root, 'fault-shim-')));
  const shim = buildFaultShim();
  // getenv() in the shim sees these: vitest runs test files in forked processes, where process.env is the real
  // C environment.
  fc.applyEnv();

  p = new pkcs11js.PKCS11();
  p.load(shim);
  p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });

  const free = p
    .C_GetSlotList(true)
    .find((s) => (p.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0);
  if (free === undefined) throw new Error('SoftHSM2 offers no uninitialized slot');
  p.C_InitToken(free, SO_PIN, LABEL.padEnd(32, ' '));

  // SoftHSM2 renumbers slots once a token is initialized: find ours again by label.
  const found = p.C_GetSlotList(true).find((s) => trimLabel(p.C_GetTokenInfo(s).label) === LABEL);
  if (found === undefined) throw new Error(`token ${LABEL} not found after C_InitToken`);
  slot = found;

  session = openSession();
  p.C_Login(session, pkcs11js.CKU_SO, SO_PIN);
  p.C_InitPIN(session, USER_PIN);
  p.C_Logout(session);
  p.C_Login(session, pkcs11js.CKU_USER, USER_PIN);

  const keys = p.C_GenerateKeyPair(
    session,
    { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
    [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_VERIFY, value: true },
      { type: pkcs11js.CKA_EC_PARAMS, value: P256_OID },
      { type: pkcs11js.CKA_LABEL, value: 'fault-shim-key' },
    ],
    [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_LABEL, value: 'fault-shim-key' },
    ],
  );
  privateKey = keys.privateKey;
  publicKey = keys.publicKey;
});

afterAll(() => {
  if (p === undefined) return;
  fc.clear();
  try {
    p.C_Finalize();
  } finally {
    p.close();
  }
  // C_Finalize rewrites the statistics file (at least the SO and user logins of beforeAll).
  expect(fc.stats().logins).toBeGreaterThanOrEqual(2);
});

describe('PKCS#11 fault shim', () => {
  it('forwards everything when there are no rules (ECDSA P-256 sign, and an unwrapped C_Verify)', () => {
    fc.clear();
    const sig = sign();
    expect(sig.length).toBe(64);
    p.C_VerifyInit(session, ECDSA, publicKey);
    expect(p.C_Verify(session, digest(), sig)).toBe(true);
    expect(p.C_GetSessionInfo(session).slotID.equals(slot)).toBe(true);
  });

  it('rv=<code> with a count fails that many calls with the code, without calling the module', () => {
    fc.inject('C_Sign rv=0x30 1');
    p.C_SignInit(session, ECDSA, privateKey);
    expect(ckrOf(() => p.C_Sign(session, digest(), Buffer.alloc(128)))).toBe(CKR_DEVICE_ERROR);
    // The real C_Sign was never called, so the operation begun by C_SignInit is still active.
    expect(p.C_Sign(session, digest(), Buffer.alloc(128)).length).toBe(64);
    expect(sign().length).toBe(64);
    expect(fc.stats().faults).toBeGreaterThanOrEqual(1);
  });

  it('rules change at run time: an unlimited rule holds until the file changes, and CKR_ names work', () => {
    fc.inject(['# the HSM is gone', 'C_GenerateRandom rv=CKR_DEVICE_REMOVED']);
    for (let i = 0; i < 3; i++) expect(ckrOf(() => p.C_GenerateRandom(session, Buffer.alloc(8)))).toBe(0x32);
    fc.inject('* rv=0x30 0 # count 0: disabled');
    expect(p.C_GenerateRandom(session, Buffer.alloc(8)).length).toBe(8);
    fc.inject(['* rv=0x6 2']);
    expect(ckrOf(() => p.C_GenerateRandom(session, Buffer.alloc(8)))).toBe(0x6);
    expect(ckrOf(() => p.C_GetSessionInfo(session))).toBe(0x6);
    expect(p.C_GenerateRandom(session, Buffer.alloc(8)).length).toBe(8);
    fc.clear();
    expect(p.C_GenerateRandom(session, Buffer.alloc(8)).length).toBe(8);
  });

  it('delay=<ms> slows the call down and then forwards it', () => {
    fc.inject('C_Sign delay=300 1');
    p.C_SignInit(session, ECDSA, privateKey);
    const start = performance.now();
    expect(p.C_Sign(session, digest(), Buffer.alloc(128)).length).toBe(64);
    expect(performance.now() - start).toBeGreaterThanOrEqual(299);
    const again = performance.now();
    sign();
    expect(performance.now() - again).toBeLessThan(250);
  });

  it('close-session kills the session in the real module: CKR_SESSION_HANDLE_INVALID, and it stays gone', () => {
    const victim = openSession();
    p.C_SignInit(victim, ECDSA, privateKey);
    fc.inject('C_Sign close-session 1');
    expect(ckrOf(() => p.C_Sign(victim, digest(), Buffer.alloc(128)))).toBe(CKR_SESSION_HANDLE_INVALID);
    expect(ckrOf(() => p.C_GetSessionInfo(victim))).toBe(CKR_SESSION_HANDLE_INVALID);
    expect(ckrOf(() => p.C_SignInit(victim, ECDSA, privateKey))).toBe(CKR_SESSION_HANDLE_INVALID);
    // Other sessions (and the login) survive.
    expect(sign().length).toBe(64);
  });

  it('logout logs the whole application out; one C_Login and a fresh key lookup recover', () => {
    const other = openSession();
    const loginsBefore = fc.stats().logins ?? 0;
    fc.inject('C_SignInit logout 1');
    const code = ckrOf(() => p.C_SignInit(session, ECDSA, privateKey));
    // SoftHSM2 2.6.1 answers CKR_OBJECT_HANDLE_INVALID (0x82): the private key is a private object, invisible
    // once logged out. Other HSMs say CKR_KEY_HANDLE_INVALID or CKR_USER_NOT_LOGGED_IN; recovery must accept all.
    expect(code).toBe(CKR_OBJECT_HANDLE_INVALID);
    expect([CKR_KEY_HANDLE_INVALID, CKR_OBJECT_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN]).toContain(code);
    // Every session of the application is now public.
    expect(p.C_GetSessionInfo(session).state).toBe(CKS_RW_PUBLIC_SESSION);
    expect(p.C_GetSessionInfo(other).state).toBe(CKS_RW_PUBLIC_SESSION);
    expect(ckrOf(() => p.C_SignInit(other, ECDSA, privateKey))).toBe(code);

    p.C_Login(session, pkcs11js.CKU_USER, USER_PIN);
    expect(fc.stats().logins).toBe(loginsBefore + 1);
    expect(p.C_GetSessionInfo(other).state).toBe(CKS_RW_USER_FUNCTIONS);
    // SoftHSM2 drops the handles of private objects on logout for good: the old key handle stays invalid even
    // after logging in again, and the key must be looked up again (it gets a new handle).
    expect(ckrOf(() => p.C_SignInit(session, ECDSA, privateKey))).toBe(CKR_OBJECT_HANDLE_INVALID);
    const fresh = findPrivateKey();
    expect(fresh.equals(privateKey)).toBe(false);
    privateKey = fresh;
    expect(sign().length).toBe(64);
    expect(sign(other).length).toBe(64);
    p.C_CloseSession(other);
  });

  it('logout between C_SignInit and C_Sign: the begun operation still completes, the next C_SignInit fails', () => {
    p.C_SignInit(session, ECDSA, privateKey);
    fc.inject('C_Sign logout 1');
    // SoftHSM2 2.6.1 copied the key into the operation at C_SignInit: the sign succeeds although logged out.
    expect(p.C_Sign(session, digest(), Buffer.alloc(128)).length).toBe(64);
    expect(p.C_GetSessionInfo(session).state).toBe(CKS_RW_PUBLIC_SESSION);
    expect(ckrOf(() => p.C_SignInit(session, ECDSA, privateKey))).toBe(CKR_OBJECT_HANDLE_INVALID);
    p.C_Login(session, pkcs11js.CKU_USER, USER_PIN);
    privateKey = findPrivateKey();
    expect(sign().length).toBe(64);
  });

  it('counts logins and the maximum number of concurrent C_Sign calls', async () => {
    sign();
    fc.clear();
    p.C_GetSessionInfo(session); // any wrapped call: the shim reloads the rules and rewrites the statistics
    const s = fc.stats();
    // SO login and user login in beforeAll, plus one re-login per injected logout if those tests ran first.
    expect(s.logins).toBeGreaterThanOrEqual(2);
    expect(s.max_concurrent_sign).toBeGreaterThanOrEqual(1);
    expect(s.signs).toBeGreaterThanOrEqual(1);

    // Slow every sign down and run four at once on the libuv thread pool: they overlap inside the shim.
    const sessions = [openSession(), openSession(), openSession(), openSession()];
    for (const s2 of sessions) p.C_SignInit(s2, ECDSA, privateKey);
    fc.inject('C_Sign delay=250');
    const sigs = await Promise.all(sessions.map((s2) => p.C_SignAsync(s2, digest(), Buffer.alloc(128))));
    fc.clear();
    for (const sig of sigs) expect(sig.length).toBe(64);
    expect(fc.stats().max_concurrent_sign).toBeGreaterThanOrEqual(2);
    expect(fc.stats().open_sessions).toBeGreaterThanOrEqual(s.open_sessions! + sessions.length);
    for (const s2 of sessions) p.C_CloseSession(s2);
  });

  it('a counted rule is consumed exactly count times under concurrent calls from the thread pool', async () => {
    const sessions = [openSession(), openSession(), openSession(), openSession()];
    fc.inject('C_Sign rv=CKR_DEVICE_ERROR 5');
    let failures = 0;
    await Promise.all(
      sessions.map(async (s2) => {
        for (let i = 0; i < 10; i++) {
          p.C_SignInit(s2, ECDSA, privateKey);
          // An injected failure never reached the module, so the operation is still active: retry it.
          for (;;) {
            try {
              expect((await p.C_SignAsync(s2, digest(), Buffer.alloc(128))).length).toBe(64);
              break;
            } catch (err) {
              expect((err as pkcs11js.Pkcs11Error).code).toBe(CKR_DEVICE_ERROR);
              failures += 1;
            }
          }
        }
      }),
    );
    fc.clear();
    expect(failures).toBe(5);
    for (const s2 of sessions) p.C_CloseSession(s2);
  });

  it('the C parser agrees with the TypeScript validator about malformed lines', () => {
    const bad = ['C_Bogus rv=0x30', 'C_Sign explode', 'C_Sign rv=', 'C_Sign logout 1 extra', 'C_Sign delay=5 x'];
    for (const line of bad) expect(() => validateFaultRule(line)).toThrow(/invalid fault rule/);
    for (const line of ['C_Sign rv 1 0xB3', 'C_Login delay 2 10', '* close-session -1', '# nothing', '']) {
      expect(() => validateFaultRule(line)).not.toThrow();
    }
    fc.inject(['C_GenerateRandom rv 1 0x31', ...bad], { validate: false });
    expect(ckrOf(() => p.C_GenerateRandom(session, Buffer.alloc(8)))).toBe(0x31);
    expect(fc.stats().rule_errors).toBe(bad.length);
    fc.clear();
    expect(p.C_GenerateRandom(session, Buffer.alloc(8)).length).toBe(8);
    expect(fc.stats().rule_errors).toBe(0);
  });
});
