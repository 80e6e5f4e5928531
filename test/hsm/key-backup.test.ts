// M-of-N key backup and restore against SoftHSM2: a backup-capable key is wrapped on a primary token under a
// trusted KEK made by the security officer, and restored into a second ("DR") token, proven by signatures that
// verify against the original public key. What the tokens hold is checked with pkcs11js directly, not through hsm/.
// Login attempts are counted by the PKCS#11 fault shim wrapping the same SoftHSM2.
import { createDecipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { combineShares, splitSecret } from '../../ca/ceremony/shares.ts';
import { backupKey, destroyKey, HsmError, Pkcs11KeyStore, restoreKey, type GeneratedKey, type HsmErrorKind, type KeyBackup } from '../../hsm/index.ts';
import { signOnSession } from '../../hsm/sign-operation.ts';
import { SOFTHSM_MODULE } from '../../hsm/soft-token.ts';
import { buildFaultShim } from '../fault/build-shim.ts';
import { FaultControl } from '../fault/fault-control.ts';
import { createTestToken, type TestToken } from '../support/token.ts';

type Handle = Buffer;

const CKR_ATTRIBUTE_SENSITIVE = 0x11;
const CKR_PIN_INCORRECT = 0xa0;
const CKR_USER_ALREADY_LOGGED_IN = 0x100;
const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
const CKS_RW_PUBLIC_SESSION = 2;

let fc: FaultControl;
let shim: string;
let primary: TestToken;
let dr: TestToken;
let p: pkcs11js.PKCS11;
const keys: Record<'ec' | 'rsa' | 'plain' | 'ed', GeneratedKey> = {} as never;

// ---- direct PKCS#11 access, independent of hsm/ ----

function slotOf(t: TestToken): Handle {
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.replace(/[\0 ]+$/, '') === t.label);
  if (slot === undefined) throw new Error(`token ${t.label} not visible`);
  return slot;
}

/**
 * A short-lived session (logged in as the user if asked, logged out again): the login state is the application's,
 * and a login left behind here would block the security officer's login inside backupKey.
 */
function withSession<T>(t: TestToken, asUser: boolean, fn: (s: Handle) => T): T {
  const s = p.C_OpenSession(slotOf(t), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  let loggedIn = false;
  try {
    if (asUser) {
      try {
        p.C_Login(s, pkcs11js.CKU_USER, t.pin);
        loggedIn = true;
      } catch (e) {
        if ((e as pkcs11js.Pkcs11Error).code !== CKR_USER_ALREADY_LOGGED_IN) throw e;
      }
    }
    return fn(s);
  } finally {
    if (loggedIn) p.C_Logout(s);
    p.C_CloseSession(s);
  }
}

function find(s: Handle, template: pkcs11js.Template): Handle[] {
  p.C_FindObjectsInit(s, template);
  try {
    const all: Handle[] = [];
    for (let batch = p.C_FindObjects(s, 16); batch.length > 0; batch = p.C_FindObjects(s, 16)) all.push(...batch);
    return all;
  } finally {
    p.C_FindObjectsFinal(s);
  }
}

function raw(s: Handle, h: Handle, type: number): Buffer {
  const [a] = p.C_GetAttributeValue(s, h, [{ type }]);
  return a!.value as Buffer;
}

/** Every object the user can see on the token, token and session objects alike, as "class:label" (sorted). */
function objects(t: TestToken): string[] {
  return withSession(t, true, (s) => find(s, []).map((h) => `${raw(s, h, pkcs11js.CKA_CLASS).readUInt32LE()}:${raw(s, h, pkcs11js.CKA_LABEL).toString()}`)).sort();
}

function secretKeys(t: TestToken): number {
  return withSession(t, true, (s) => find(s, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }]).length);
}

/** The application's login state on the token, seen from a fresh session: must be public after every call. */
function stateOf(t: TestToken): number {
  return withSession(t, false, (s) => p.C_GetSessionInfo(s).state);
}

function ckrOf(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    return (e as pkcs11js.Pkcs11Error).code;
  }
  throw new Error('expected a PKCS#11 error, the call succeeded');
}

function hsmError(fn: () => unknown, kind: HsmErrorKind): HsmError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(HsmError);
    expect((e as HsmError).kind, (e as Error).message).toBe(kind);
    return e as HsmError;
  }
  throw new Error(`expected an HsmError '${kind}', the call succeeded`);
}

const logins = () => fc.stats().logins ?? 0;

function verifiesWith(spki: Buffer, algorithm: string, data: Buffer, signature: Uint8Array): boolean {
  const hash = algorithm.slice(algorithm.lastIndexOf('-') + 1);
  return verify(hash, data, createPublicKey({ key: spki, format: 'der', type: 'spki' }), signature);
}

function backup(key: GeneratedKey, kek: Uint8Array, module = SOFTHSM_MODULE, t: TestToken = primary): KeyBackup {
  return backupKey({ module, token: { label: t.label }, userPin: t.pin, soPin: t.soPin, key: { label: key.label }, kek });
}

beforeAll(() => {
  // The shim reads its environment when it is loaded: set it before anything loads it.
  fc = new FaultControl(mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), 'key-backup-fault-')));
  fc.applyEnv();
  shim = buildFaultShim();

  primary = createTestToken('kb-primary');
  dr = createTestToken('kb-dr');
  const store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: primary.label }, pin: primary.pin });
  try {
    keys.ec = store.generate({ type: 'ec-p256', label: 'ec-key', backupCapable: true });
    keys.rsa = store.generate({ type: 'rsa-2048', label: 'rsa-key', backupCapable: true });
    keys.plain = store.generate({ type: 'ec-p256', label: 'plain-key' });
    keys.ed = store.generate({ type: 'ed25519', label: 'ed-key', backupCapable: true });
  } finally {
    // Closing the key store's only session ends its login: backupKey needs the SO first.
    store.close();
  }

  p = new pkcs11js.PKCS11();
  p.load(SOFTHSM_MODULE);
  try {
    p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    if ((e as pkcs11js.Pkcs11Error).code !== CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
  }
}, 120_000);

afterAll(() => {
  fc?.clear();
  // No C_Finalize: the module is shared by every PKCS11 instance in this process.
});

describe('backupKey', () => {
  it('wraps a backup-capable P-256 key: 80 bytes, a different blob under another KEK, nothing left behind', () => {
    expect(stateOf(primary)).toBe(CKS_RW_PUBLIC_SESSION);
    const before = objects(primary);
    const kek1 = randomBytes(32);
    const kek2 = randomBytes(32);
    const b1 = backup(keys.ec, kek1);
    const b2 = backup(keys.ec, kek2);

    expect(b1).toMatchObject({ mechanism: 'aes-key-wrap-pad', keyType: 'ec-p256', label: 'ec-key', id: keys.ec.id, spkiSha256: keys.ec.spkiSha256 });
    expect(b1.spki.equals(keys.ec.spki)).toBe(true);
    expect(b1.token).toMatchObject({ label: primary.label, serial: primary.serial, manufacturer: 'SoftHSM project' });
    expect(b1.wrapped).toHaveLength(80);
    expect(b2.wrapped).toHaveLength(80);
    expect(b1.wrapped.equals(b2.wrapped)).toBe(false);
    // The backup proves the public key it reports belongs to the key it wrapped.
    expect(verifiesWith(keys.ec.spki, b1.proof.algorithm, b1.proof.challenge, b1.proof.signature)).toBe(true);
    // The caller's KEK is left as given (only hsm/'s copy is zeroed).
    expect(kek1.every((b) => b === 0)).toBe(false);

    // No KEK (token or session object) left on the token, nobody of this process left logged in.
    expect(objects(primary)).toEqual(before);
    expect(secretKeys(primary)).toBe(0);
    expect(stateOf(primary)).toBe(CKS_RW_PUBLIC_SESSION);
  });

  it('the blob is RFC 5649 AES key wrap (with padding) of the PKCS#8 private key: portable to any HSM with CKM_AES_KEY_WRAP_PAD', () => {
    // Test-only, on a throwaway key: decrypting the blob here is the one way to prove what it is.
    const kek = randomBytes(32);
    const b = backup(keys.ec, kek);
    const d = createDecipheriv('id-aes256-wrap-pad', kek, Buffer.from('a65959a6', 'hex'));
    const pkcs8 = Buffer.concat([d.update(b.wrapped), d.final()]);
    const priv = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    expect(createPublicKey(priv).export({ type: 'spki', format: 'der' }).equals(keys.ec.spki)).toBe(true);
    pkcs8.fill(0);
  });

  it('refuses a key that is not backup-capable, and leaves no KEK on the token', () => {
    const before = objects(primary);
    const e = hsmError(() => backup(keys.plain, randomBytes(32)), 'bad-request');
    expect(e.message).toMatch(/not backup-capable.*CKA_EXTRACTABLE/);
    expect(objects(primary)).toEqual(before);
    expect(secretKeys(primary)).toBe(0);
    expect(stateOf(primary)).toBe(CKS_RW_PUBLIC_SESSION);
  });

  it('refuses an Ed25519 key (SoftHSM2 cannot wrap EdDSA keys), and a missing key', () => {
    const before = objects(primary);
    expect(hsmError(() => backup(keys.ed, randomBytes(32)), 'bad-request').message).toMatch(/only EC and RSA/);
    hsmError(() => backupKey({ module: SOFTHSM_MODULE, token: { label: primary.label }, userPin: primary.pin, soPin: primary.soPin, key: { label: 'no-such-key' }, kek: randomBytes(32) }), 'key-not-found');
    expect(objects(primary)).toEqual(before);
    expect(stateOf(primary)).toBe(CKS_RW_PUBLIC_SESSION);
  });

  it('refuses a KEK that is not 32 bytes before any login', () => {
    const n = logins();
    hsmError(() => backup(keys.ec, randomBytes(16), shim), 'bad-request');
    expect(logins()).toBe(n);
  });

  it('a wrong SO PIN is an auth error after exactly one C_Login; the user PIN is never tried', () => {
    const before = objects(primary);
    const n = logins();
    const e = hsmError(
      () => backupKey({ module: shim, token: { label: primary.label }, userPin: primary.pin, soPin: `${primary.soPin}x`, key: { label: 'ec-key' }, kek: randomBytes(32) }),
      'auth',
    );
    expect(e.ckr).toBe(CKR_PIN_INCORRECT);
    expect(e.message).toMatch(/SO PIN/);
    expect(logins() - n).toBe(1);
    expect(objects(primary)).toEqual(before);
    expect(stateOf(primary)).toBe(CKS_RW_PUBLIC_SESSION);
    // A good backup through the shim: two logins, SO then user.
    const m = logins();
    expect(backup(keys.ec, randomBytes(32), shim).wrapped).toHaveLength(80);
    expect(logins() - m).toBe(2);
  });

  it('a wrong user PIN is an auth error after the SO login; the KEK is gone', () => {
    const before = objects(primary);
    const n = logins();
    const e = hsmError(
      () => backupKey({ module: shim, token: { label: primary.label }, userPin: `${primary.pin}x`, soPin: primary.soPin, key: { label: 'ec-key' }, kek: randomBytes(32) }),
      'auth',
    );
    expect(e.ckr).toBe(CKR_PIN_INCORRECT);
    expect(logins() - n).toBe(2);
    expect(objects(primary)).toEqual(before);
    expect(secretKeys(primary)).toBe(0);
    expect(stateOf(primary)).toBe(CKS_RW_PUBLIC_SESSION);
  });

  it('is refused, without any login, while this process is logged in to the token as the user', () => {
    const store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: primary.label }, pin: primary.pin });
    try {
      const n = logins();
      expect(hsmError(() => backup(keys.ec, randomBytes(32), shim), 'bad-request').message).toMatch(/already logged in/);
      expect(logins()).toBe(n);
    } finally {
      store.close();
    }
    expect(stateOf(primary)).toBe(CKS_RW_PUBLIC_SESSION);
  });
});

describe('restoreKey', () => {
  it('restores the P-256 key into the DR token: same public key, signatures verify against the original SPKI, value unreadable', () => {
    const kek = randomBytes(32);
    const b = backup(keys.ec, kek);
    const before = objects(dr);
    const r = restoreKey({ module: SOFTHSM_MODULE, token: { label: dr.label }, userPin: dr.pin, key: { label: b.label, id: b.id }, wrapped: b.wrapped, kek, keyType: b.keyType, spki: b.spki });

    expect(r).toMatchObject({ label: 'ec-key', id: keys.ec.id, type: 'ec-p256', spkiSha256: keys.ec.spkiSha256 });
    expect(r.spki.equals(keys.ec.spki)).toBe(true);
    expect(r.token).toMatchObject({ label: dr.label, serial: dr.serial });
    expect(verifiesWith(keys.ec.spki, r.proof.algorithm, r.proof.challenge, r.proof.signature)).toBe(true);
    // Honest read-back: an unwrapped key is not local, and SoftHSM2 does not call it always-sensitive or never-extractable.
    expect(r.protection).toEqual({
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      sign: true,
      decrypt: false,
      unwrap: false,
      derive: false,
      local: false,
      alwaysSensitive: false,
      neverExtractable: false,
      wrapWithTrusted: false,
    });
    // Exactly the key pair is new on the DR token: no KEK, nothing else; nobody left logged in.
    expect(objects(dr)).toEqual([...before, `${pkcs11js.CKO_PRIVATE_KEY}:ec-key`, `${pkcs11js.CKO_PUBLIC_KEY}:ec-key`].sort());
    expect(secretKeys(dr)).toBe(0);
    expect(stateOf(dr)).toBe(CKS_RW_PUBLIC_SESSION);

    withSession(dr, true, (s) => {
      const id = [{ type: pkcs11js.CKA_ID, value: Buffer.from(keys.ec.id, 'hex') }];
      const [priv, ...morePriv] = find(s, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, ...id]);
      const [pub, ...morePub] = find(s, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, ...id]);
      expect(morePriv).toHaveLength(0);
      expect(morePub).toHaveLength(0);
      // An independent signature from the DR token verifies against the primary's public key.
      const msg = randomBytes(200);
      const sig = signOnSession(p, s, priv!, 'ec-p256', 'ecdsa-sha256', msg, 'der', Buffer.alloc(256));
      expect(verify('sha256', msg, createPublicKey({ key: keys.ec.spki, format: 'der', type: 'spki' }), sig)).toBe(true);
      // No plaintext private key from the restored key.
      expect(ckrOf(() => p.C_GetAttributeValue(s, priv!, [{ type: pkcs11js.CKA_VALUE }]))).toBe(CKR_ATTRIBUTE_SENSITIVE);
      expect(raw(s, priv!, pkcs11js.CKA_SENSITIVE)[0]).toBe(1);
      expect(raw(s, pub!, pkcs11js.CKA_VERIFY)[0]).toBe(1);
      expect(raw(s, pub!, pkcs11js.CKA_PRIVATE)[0]).toBe(0);
      expect(raw(s, pub!, pkcs11js.CKA_TOKEN)[0]).toBe(1);
      // The public key object is byte-for-byte the primary's EC point.
      const primaryPoint = withSession(primary, false, (ps) => {
        const [h] = find(ps, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, ...id]);
        return raw(ps, h!, pkcs11js.CKA_EC_POINT);
      });
      expect(raw(s, pub!, pkcs11js.CKA_EC_POINT).equals(primaryPoint)).toBe(true);
    });

    // hsm/'s own key store agrees.
    const store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: dr.label }, pin: dr.pin });
    try {
      expect(store.publicKey({ label: 'ec-key' }).spkiSha256).toBe(keys.ec.spkiSha256);
    } finally {
      store.close();
    }
  });

  it('RSA-2048 restored with a KEK recombined from 2 of 3 custodian shares', async () => {
    const kek = randomBytes(32);
    const b = backup(keys.rsa, kek);
    expect(b.keyType).toBe('rsa-2048');
    const shares = await splitSecret(kek, 2, 3, ['alice', 'bob', 'carol'], { label: 'kb-test-kek' });
    kek.fill(0);
    await expect(combineShares([shares[1]!], 2)).rejects.toMatchObject({ kind: 'too-few' });
    const recombined = await combineShares([shares[2]!, shares[0]!], 2);
    try {
      const r = restoreKey({ module: SOFTHSM_MODULE, token: { label: dr.label }, userPin: dr.pin, key: { label: b.label, id: b.id }, wrapped: b.wrapped, kek: recombined, keyType: b.keyType, spki: b.spki });
      expect(r.spki.equals(keys.rsa.spki)).toBe(true);
      expect(r.proof.algorithm).toBe('rsa-pkcs1-sha256');
      expect(verifiesWith(keys.rsa.spki, r.proof.algorithm, r.proof.challenge, r.proof.signature)).toBe(true);
      expect(r.protection).toMatchObject({ sensitive: true, extractable: false, sign: true, decrypt: false, unwrap: false, local: false });
    } finally {
      recombined.fill(0);
    }
    withSession(dr, true, (s) => {
      const [priv] = find(s, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_LABEL, value: 'rsa-key' },
      ]);
      const msg = randomBytes(64);
      const sig = signOnSession(p, s, priv!, 'rsa-2048', 'rsa-pkcs1-sha256', msg, 'der', Buffer.alloc(512));
      expect(verify('sha256', msg, createPublicKey({ key: keys.rsa.spki, format: 'der', type: 'spki' }), sig)).toBe(true);
      for (const secret of [pkcs11js.CKA_PRIVATE_EXPONENT, pkcs11js.CKA_PRIME_1, pkcs11js.CKA_PRIME_2]) {
        expect(ckrOf(() => p.C_GetAttributeValue(s, priv!, [{ type: secret }]))).toBe(CKR_ATTRIBUTE_SENSITIVE);
      }
    });
  });

  it('a wrong KEK or an altered blob: key-mismatch, and no new object on the DR token', () => {
    const kek = randomBytes(32);
    const b = backup(keys.ec, kek);
    const before = objects(dr);
    const req = { module: SOFTHSM_MODULE, token: { label: dr.label }, userPin: dr.pin, key: { label: 'ec-wrong-kek' }, wrapped: b.wrapped, kek, keyType: b.keyType, spki: b.spki };
    expect(hsmError(() => restoreKey({ ...req, kek: randomBytes(32) }), 'key-mismatch').message).toMatch(/does not open this backup/);
    const altered = Buffer.from(b.wrapped);
    altered[40]! ^= 1;
    hsmError(() => restoreKey({ ...req, wrapped: altered }), 'key-mismatch');
    hsmError(() => restoreKey({ ...req, wrapped: b.wrapped.subarray(0, 72) }), 'key-mismatch');
    expect(objects(dr)).toEqual(before);
    expect(secretKeys(dr)).toBe(0);
    expect(stateOf(dr)).toBe(CKS_RW_PUBLIC_SESSION);
  });

  it('a backup that is not the expected public key\'s is unwrapped, fails its proof, and is destroyed', () => {
    const kek = randomBytes(32);
    const b = backup(keys.ec, kek);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    const before = objects(dr);
    const e = hsmError(
      () => restoreKey({ module: SOFTHSM_MODULE, token: { label: dr.label }, userPin: dr.pin, key: { label: 'ec-other' }, wrapped: b.wrapped, kek, keyType: 'ec-p256', spki: other }),
      'key-mismatch',
    );
    expect(e.message).toMatch(/refused and destroyed: .*does not verify/);
    // Declared as RSA: the token cannot unwrap it as one.
    hsmError(() => restoreKey({ module: SOFTHSM_MODULE, token: { label: dr.label }, userPin: dr.pin, key: { label: 'ec-as-rsa' }, wrapped: b.wrapped, kek, keyType: 'rsa-2048', spki: keys.rsa.spki }), 'key-mismatch');
    expect(objects(dr)).toEqual(before);
  });

  it('refuses a label or id already on the token, and a public key of another type, touching nothing', () => {
    const kek = randomBytes(32);
    const b = backup(keys.ec, kek);
    const before = objects(dr);
    const base = { module: SOFTHSM_MODULE, token: { label: dr.label }, userPin: dr.pin, wrapped: b.wrapped, kek, keyType: b.keyType, spki: b.spki };
    expect(hsmError(() => restoreKey({ ...base, key: { label: 'ec-key' } }), 'bad-request').message).toMatch(/already exists/);
    expect(hsmError(() => restoreKey({ ...base, key: { label: 'fresh', id: keys.ec.id } }), 'bad-request').message).toMatch(/id .* already exists/);
    expect(hsmError(() => restoreKey({ ...base, key: { label: 'fresh' }, keyType: 'ec-p384' }), 'bad-request').message).toMatch(/not a ec-p384 key/);
    hsmError(() => restoreKey({ ...base, key: { label: 'fresh' }, keyType: 'ed25519' }), 'bad-request');
    hsmError(() => restoreKey({ ...base, key: { label: 'fresh' }, kek: randomBytes(31) }), 'bad-request');
    expect(hsmError(() => restoreKey({ ...base, key: { label: 'fresh' }, userPin: `${dr.pin}x` }), 'auth').ckr).toBe(CKR_PIN_INCORRECT);
    expect(objects(dr)).toEqual(before);
  });

  it('restores as backup-capable on request (new id), which the DR token can back up again; destroyKey cleans up on confirmation', () => {
    const kek = randomBytes(32);
    const b = backup(keys.ec, kek);
    const before = objects(dr);
    const r = restoreKey({ module: SOFTHSM_MODULE, token: { label: dr.label }, userPin: dr.pin, key: { label: 'ec-drill' }, wrapped: b.wrapped, kek, keyType: b.keyType, spki: b.spki, backupCapable: true });
    expect(r.id).toMatch(/^[0-9a-f]{32}$/);
    expect(r.id).not.toBe(keys.ec.id);
    expect(r.protection).toMatchObject({ extractable: true, wrapWithTrusted: true, sensitive: true, local: false });

    // The restored key is backup-capable again: the DR token's SO and user can wrap it, and it is the same key.
    const again = backupKey({ module: SOFTHSM_MODULE, token: { label: dr.label }, userPin: dr.pin, soPin: dr.soPin, key: { label: 'ec-drill' }, kek: randomBytes(32) });
    expect(again.wrapped).toHaveLength(80);
    expect(again.spkiSha256).toBe(keys.ec.spkiSha256);

    const req = { module: SOFTHSM_MODULE, token: { label: dr.label }, userPin: dr.pin, key: { id: r.id } };
    expect(hsmError(() => destroyKey({ ...req, confirmLabel: 'ec-key' }), 'bad-request').message).toMatch(/not the confirmed/);
    expect(objects(dr)).toEqual([...before, `${pkcs11js.CKO_PRIVATE_KEY}:ec-drill`, `${pkcs11js.CKO_PUBLIC_KEY}:ec-drill`].sort());
    expect(destroyKey({ ...req, confirmLabel: 'ec-drill' })).toEqual({ label: 'ec-drill', id: r.id, publicKeys: 1 });
    expect(objects(dr)).toEqual(before);
    hsmError(() => destroyKey({ ...req, confirmLabel: 'ec-drill' }), 'key-not-found');
    expect(stateOf(dr)).toBe(CKS_RW_PUBLIC_SESSION);
  });

  it('restoring into a token this process is already logged in to leaves that login as it was', () => {
    const kek = randomBytes(32);
    const b = backup(keys.ec, kek);
    const store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: dr.label }, pin: dr.pin });
    try {
      const r = restoreKey({ module: SOFTHSM_MODULE, token: { label: dr.label }, userPin: dr.pin, key: { label: 'ec-while-open' }, wrapped: b.wrapped, kek, keyType: b.keyType, spki: b.spki });
      // The store's session is still logged in and sees the restored key.
      expect(store.publicKey({ id: r.id }).spkiSha256).toBe(createHash('sha256').update(keys.ec.spki).digest('hex'));
      destroyKey({ module: SOFTHSM_MODULE, token: { label: dr.label }, userPin: dr.pin, key: { label: 'ec-while-open' }, confirmLabel: 'ec-while-open' });
      expect(store.list().map((k) => k.label)).not.toContain('ec-while-open');
    } finally {
      store.close();
    }
  });
});
