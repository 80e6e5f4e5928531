// Key generation through Pkcs11KeyStore against SoftHSM2, checked by reading the token back with pkcs11js directly:
// what the token really holds, not what hsm/ says it holds. The refusal path (a generated key that fails its
// read-back is destroyed) is driven through the PKCS#11 fault shim wrapping the same SoftHSM2.
import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmError, KEY_TYPES, Pkcs11KeyStore, formatPkcs11Uri, parsePkcs11Uri, type GeneratedKey, type KeyProtection, type KeyType } from '../../hsm/index.ts';
import { protectionProblem } from '../../hsm/keygen.ts';
import { SOFTHSM_MODULE } from '../../hsm/soft-token.ts';
import { buildFaultShim } from '../fault/build-shim.ts';
import { FaultControl } from '../fault/fault-control.ts';
import { createTestToken, type TestToken } from '../support/token.ts';

type Handle = Buffer;

const CKR_ATTRIBUTE_SENSITIVE = 0x11;
const CKR_KEY_NOT_WRAPPABLE = 0x69;
const CKR_KEY_UNEXTRACTABLE = 0x6a;
const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
const CKK_EC_EDWARDS = 0x40;
const CKM_EDDSA = 0x1057;
const CKS_RW_USER_FUNCTIONS = 3;

interface KeyCase {
  type: KeyType;
  ckk: number;
  /** CKA_EC_PARAMS as the token must report it (named-curve OID, or "edwards25519" as PrintableString). */
  ecParams?: string;
  bits?: number;
  /** The private component that must never leave the token. */
  secret: number;
  node: { asymmetricKeyType: string; namedCurve?: string; modulusLength?: number };
}

const KEY_CASES: KeyCase[] = [
  { type: 'ec-p256', ckk: pkcs11js.CKK_EC, ecParams: '06082a8648ce3d030107', secret: pkcs11js.CKA_VALUE, node: { asymmetricKeyType: 'ec', namedCurve: 'prime256v1' } },
  { type: 'ec-p384', ckk: pkcs11js.CKK_EC, ecParams: '06052b81040022', secret: pkcs11js.CKA_VALUE, node: { asymmetricKeyType: 'ec', namedCurve: 'secp384r1' } },
  { type: 'rsa-2048', ckk: pkcs11js.CKK_RSA, bits: 2048, secret: pkcs11js.CKA_PRIVATE_EXPONENT, node: { asymmetricKeyType: 'rsa', modulusLength: 2048 } },
  { type: 'rsa-3072', ckk: pkcs11js.CKK_RSA, bits: 3072, secret: pkcs11js.CKA_PRIVATE_EXPONENT, node: { asymmetricKeyType: 'rsa', modulusLength: 3072 } },
  { type: 'rsa-4096', ckk: pkcs11js.CKK_RSA, bits: 4096, secret: pkcs11js.CKA_PRIVATE_EXPONENT, node: { asymmetricKeyType: 'rsa', modulusLength: 4096 } },
  { type: 'ed25519', ckk: CKK_EC_EDWARDS, ecParams: '130c656477617264733235353139', secret: pkcs11js.CKA_VALUE, node: { asymmetricKeyType: 'ed25519' } },
];

/** The protective attributes of a signing key that can never leave the token, as the token must report them. */
const EXPECTED: [string, number, boolean][] = [
  ['CKA_TOKEN', pkcs11js.CKA_TOKEN, true],
  ['CKA_PRIVATE', pkcs11js.CKA_PRIVATE, true],
  ['CKA_SENSITIVE', pkcs11js.CKA_SENSITIVE, true],
  ['CKA_SIGN', pkcs11js.CKA_SIGN, true],
  ['CKA_DECRYPT', pkcs11js.CKA_DECRYPT, false],
  ['CKA_UNWRAP', pkcs11js.CKA_UNWRAP, false],
  ['CKA_DERIVE', pkcs11js.CKA_DERIVE, false],
  ['CKA_EXTRACTABLE', pkcs11js.CKA_EXTRACTABLE, false],
  ['CKA_LOCAL', pkcs11js.CKA_LOCAL, true],
  ['CKA_ALWAYS_SENSITIVE', pkcs11js.CKA_ALWAYS_SENSITIVE, true],
  ['CKA_NEVER_EXTRACTABLE', pkcs11js.CKA_NEVER_EXTRACTABLE, true],
];

let token: TestToken;
let store: Pkcs11KeyStore;
/** A second key store on the same token, reached through the fault shim. */
let shimStore: Pkcs11KeyStore;
let fc: FaultControl;
let p: pkcs11js.PKCS11;
let session: Handle;

// ---- direct PKCS#11 access, independent of hsm/ ----

function ckrOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(pkcs11js.Pkcs11Error);
    return (err as pkcs11js.Pkcs11Error).code;
  }
  throw new Error('expected a PKCS#11 error, the call succeeded');
}

function find(template: pkcs11js.Template): Handle[] {
  p.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_TOKEN, value: true }, ...template]);
  try {
    const all: Handle[] = [];
    for (let batch = p.C_FindObjects(session, 10); batch.length > 0; batch = p.C_FindObjects(session, 10)) all.push(...batch);
    return all;
  } finally {
    p.C_FindObjectsFinal(session);
  }
}

function findById(cls: number, idHex: string): Handle {
  const found = find([
    { type: pkcs11js.CKA_CLASS, value: cls },
    { type: pkcs11js.CKA_ID, value: Buffer.from(idHex, 'hex') },
  ]);
  expect(found).toHaveLength(1);
  return found[0]!;
}

function objectsLabelled(label: string): Handle[] {
  return find([{ type: pkcs11js.CKA_LABEL, value: label }]);
}

function raw(h: Handle, type: number): Buffer {
  const [a] = p.C_GetAttributeValue(session, h, [{ type }]);
  return a!.value as Buffer;
}

function boolAttr(h: Handle, type: number): boolean {
  const v = raw(h, type);
  expect(v).toHaveLength(1);
  return v[0] !== 0;
}

function ulongAttr(h: Handle, type: number): number {
  const v = raw(h, type);
  return v.length === 8 ? Number(v.readBigUInt64LE()) : v.readUInt32LE();
}

/** Signs with the token key directly (not through hsm/) and verifies with Node: the SPKI belongs to that key. */
function signsFor(c: KeyCase, priv: Handle, spki: KeyObject): boolean {
  const msg = randomBytes(100);
  let sig: Buffer;
  if (c.ckk === pkcs11js.CKK_RSA) {
    p.C_SignInit(session, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, priv);
    sig = p.C_Sign(session, msg, Buffer.alloc(1024));
    return verify('sha256', msg, spki, sig);
  }
  if (c.ckk === pkcs11js.CKK_EC) {
    p.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, priv);
    sig = p.C_Sign(session, createHash('sha256').update(msg).digest(), Buffer.alloc(256));
    return verify('sha256', msg, { key: spki, dsaEncoding: 'ieee-p1363' }, sig);
  }
  p.C_SignInit(session, { mechanism: CKM_EDDSA }, priv);
  sig = p.C_Sign(session, msg, Buffer.alloc(256));
  return verify(null, msg, spki, sig);
}

beforeAll(() => {
  // The shim reads its environment when it is loaded and on every C_Initialize: set it before anything loads it.
  fc = new FaultControl(mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), 'keygen-fault-')));
  fc.applyEnv();
  const shim = buildFaultShim();

  token = createTestToken('keygen');
  store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: token.label }, pin: token.pin });
  shimStore = Pkcs11KeyStore.open({ module: shim, token: { label: token.label }, pin: token.pin });

  p = new pkcs11js.PKCS11();
  p.load(SOFTHSM_MODULE);
  try {
    p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    if ((e as pkcs11js.Pkcs11Error).code !== CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
  }
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.replace(/[\0 ]+$/, '') === token.label);
  if (slot === undefined) throw new Error(`token ${token.label} not visible to a direct pkcs11js load`);
  session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
});

afterAll(() => {
  fc?.clear();
  store?.close();
  shimStore?.close();
  if (session !== undefined) p.C_CloseSession(session);
  // No C_Finalize: the module is shared by every PKCS11 instance in this process.
});

describe('test setup: the fault shim and SoftHSM2 share one module state', () => {
  it('the shim is really in the path, and sees the token, login and keys of the directly loaded SoftHSM2', () => {
    // Opening shimStore went through the shim (the shim counted the C_OpenSession) ...
    expect(fc.stats().open_sessions).toBeGreaterThanOrEqual(1);
    // ... found the token that createTestToken initialised through SoftHSM2 directly, and needed no C_Login:
    // the login `store` made (directly) is the application's login in the one shared SoftHSM2 instance.
    expect(shimStore.token().label).toBe(token.label);
    expect(fc.stats().logins ?? 0).toBe(0);
    expect(p.C_GetSessionInfo(session).state).toBe(CKS_RW_USER_FUNCTIONS);
    // A key generated through the shim is an object of the same token.
    const k = shimStore.generate({ type: 'ec-p256', label: 'made-through-shim' });
    expect(raw(findById(pkcs11js.CKO_PRIVATE_KEY, k.id), pkcs11js.CKA_LABEL).toString()).toBe('made-through-shim');
    expect(store.publicKey({ id: k.id }).spkiSha256).toBe(k.spkiSha256);
  });
});

describe('Pkcs11KeyStore.generate', () => {
  const generated = new Map<KeyType, GeneratedKey>();

  it('covers every key type Strongroom knows', () => {
    expect(KEY_CASES.map((c) => c.type).sort()).toEqual([...KEY_TYPES].sort());
  });

  it.each(KEY_CASES)('$type: the token holds a non-extractable, sign-only key of the asked size/curve', { timeout: 120_000 }, (c) => {
    const label = `key-${c.type}`;
    const k = store.generate({ type: c.type, label });
    generated.set(c.type, k);
    expect(k).toMatchObject({ label, type: c.type });
    expect(k.id).toMatch(/^[0-9a-f]{32}$/);

    const priv = findById(pkcs11js.CKO_PRIVATE_KEY, k.id);
    const pub = findById(pkcs11js.CKO_PUBLIC_KEY, k.id);
    expect(raw(priv, pkcs11js.CKA_LABEL).toString()).toBe(label);
    expect(raw(priv, pkcs11js.CKA_ID).toString('hex')).toBe(k.id);
    const got = Object.fromEntries(EXPECTED.map(([name, type]) => [name, boolAttr(priv, type)]));
    expect(got).toEqual(Object.fromEntries(EXPECTED.map(([name, , want]) => [name, want])));

    // Key type and size or curve, on both halves.
    expect(ulongAttr(priv, pkcs11js.CKA_KEY_TYPE)).toBe(c.ckk);
    expect(ulongAttr(pub, pkcs11js.CKA_KEY_TYPE)).toBe(c.ckk);
    if (c.bits) {
      expect(ulongAttr(pub, pkcs11js.CKA_MODULUS_BITS)).toBe(c.bits);
      expect(raw(pub, pkcs11js.CKA_MODULUS)).toHaveLength(c.bits / 8);
      expect(raw(pub, pkcs11js.CKA_PUBLIC_EXPONENT).toString('hex').replace(/^(00)+/, '')).toBe('010001');
      expect(raw(priv, pkcs11js.CKA_PUBLIC_EXPONENT).toString('hex').replace(/^(00)+/, '')).toBe('010001');
    } else {
      expect(raw(pub, pkcs11js.CKA_EC_PARAMS).toString('hex')).toBe(c.ecParams);
    }
    expect(boolAttr(pub, pkcs11js.CKA_VERIFY)).toBe(true);
    expect(boolAttr(pub, pkcs11js.CKA_PRIVATE)).toBe(false);

    // The private component cannot be read.
    expect(ckrOf(() => p.C_GetAttributeValue(session, priv, [{ type: c.secret }]))).toBe(CKR_ATTRIBUTE_SENSITIVE);

    // The reported SPKI is that key's: what Node makes of it matches, and a signature made by the token key verifies.
    const spki = createPublicKey({ key: k.spki, format: 'der', type: 'spki' });
    expect(spki.asymmetricKeyType).toBe(c.node.asymmetricKeyType);
    if (c.node.namedCurve) expect(spki.asymmetricKeyDetails?.namedCurve).toBe(c.node.namedCurve);
    if (c.node.modulusLength) {
      expect(spki.asymmetricKeyDetails?.modulusLength).toBe(c.node.modulusLength);
      expect(spki.asymmetricKeyDetails?.publicExponent).toBe(65537n);
    }
    expect(k.spkiSha256).toBe(createHash('sha256').update(k.spki).digest('hex'));
    expect(signsFor(c, priv, spki)).toBe(true);

    // What generate() reports is what the token holds.
    expect(k.protection).toMatchObject({ token: true, private: true, sensitive: true, sign: true, decrypt: false, unwrap: false, derive: false, extractable: false, local: true, alwaysSensitive: true, neverExtractable: true });
  });

  it('a non-extractable key cannot be wrapped out, even under a key this user made (CKR_KEY_UNEXTRACTABLE)', () => {
    const k = store.generate({ type: 'ec-p256', label: 'not-for-wrapping' });
    const aes = p.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_WRAP, value: true },
    ]);
    const priv = findById(pkcs11js.CKO_PRIVATE_KEY, k.id);
    expect(ckrOf(() => p.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, aes, priv, Buffer.alloc(1024)))).toBe(CKR_KEY_UNEXTRACTABLE);
    p.C_DestroyObject(session, aes);
  });

  it('a backup-capable key is extractable only under a trusted key, and still sensitive', () => {
    const k = store.generate({ type: 'ec-p256', label: 'backup-capable', backupCapable: true });
    const priv = findById(pkcs11js.CKO_PRIVATE_KEY, k.id);
    expect(boolAttr(priv, pkcs11js.CKA_EXTRACTABLE)).toBe(true);
    expect(boolAttr(priv, pkcs11js.CKA_WRAP_WITH_TRUSTED)).toBe(true);
    expect(boolAttr(priv, pkcs11js.CKA_NEVER_EXTRACTABLE)).toBe(false);
    expect(boolAttr(priv, pkcs11js.CKA_SENSITIVE)).toBe(true);
    expect(boolAttr(priv, pkcs11js.CKA_ALWAYS_SENSITIVE)).toBe(true);
    expect(boolAttr(priv, pkcs11js.CKA_LOCAL)).toBe(true);
    expect(boolAttr(priv, pkcs11js.CKA_SIGN)).toBe(true);
    expect(boolAttr(priv, pkcs11js.CKA_DECRYPT)).toBe(false);
    expect(ckrOf(() => p.C_GetAttributeValue(session, priv, [{ type: pkcs11js.CKA_VALUE }]))).toBe(CKR_ATTRIBUTE_SENSITIVE);
    expect(k.protection).toMatchObject({ extractable: true, wrapWithTrusted: true, neverExtractable: false, sensitive: true });
    // A user cannot make a trusted key, so an untrusted wrapping key is refused: the key leaves only through the
    // security officer's M-of-N backup ceremony.
    const aes = p.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_WRAP, value: true },
    ]);
    expect(ckrOf(() => p.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, aes, priv, Buffer.alloc(1024)))).toBe(CKR_KEY_NOT_WRAPPABLE);
    p.C_DestroyObject(session, aes);
  });

  it('refuses a second key with a label already in use, and leaves the first one alone', () => {
    const first = store.generate({ type: 'ec-p256', label: 'taken' });
    const before = find([]).length;
    let err: unknown;
    try {
      store.generate({ type: 'ed25519', label: 'taken' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HsmError);
    expect((err as HsmError).kind).toBe('bad-request');
    expect((err as HsmError).message).toMatch(/already exists/);
    expect(find([]).length).toBe(before);
    expect(objectsLabelled('taken')).toHaveLength(2); // the first key's private and public halves
    expect(store.publicKey({ label: 'taken' }).spkiSha256).toBe(first.spkiSha256);
  });

  it('refuses an empty label', () => {
    expect(() => store.generate({ type: 'ec-p256', label: '' })).toThrow(expect.objectContaining({ kind: 'bad-request' }));
  });

  it('gives each key a fresh random 16-byte CKA_ID', () => {
    const ids = ['id-a', 'id-b', 'id-c'].map((label) => store.generate({ type: 'ed25519', label }).id);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(raw(findById(pkcs11js.CKO_PRIVATE_KEY, id), pkcs11js.CKA_ID)).toHaveLength(16);
    }
    expect(new Set(ids).size).toBe(3);
  });
});

describe('Pkcs11KeyStore.list', () => {
  it('reports every private key (more than one C_FindObjects batch) with its protection and a round-tripping pkcs11: URI', () => {
    const mine = new Map<string, GeneratedKey>();
    for (let i = 0; i < 18; i++) {
      const k = store.generate({ type: i % 2 ? 'ed25519' : 'ec-p256', label: `listed-${i}` });
      mine.set(k.label, k);
    }
    const backup = store.generate({ type: 'ec-p384', label: 'listed-backup', backupCapable: true });
    mine.set(backup.label, backup);

    const listed = store.list();
    // Every private key the token holds, no more, no less.
    expect(listed).toHaveLength(find([{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }]).length);
    expect(listed.length).toBeGreaterThan(16);
    expect(new Set(listed.map((k) => k.id)).size).toBe(listed.length);

    for (const k of mine.values()) {
      const info = listed.find((x) => x.label === k.label);
      expect(info, k.label).toBeDefined();
      expect(info).toMatchObject({ label: k.label, id: k.id, type: k.type, spkiSha256: k.spkiSha256, protection: k.protection });
      expect(info!.spki?.equals(k.spki)).toBe(true);
      const uri = parsePkcs11Uri(info!.uri);
      expect(uri).toEqual({ token: token.label, object: k.label, id: k.id, type: 'private' });
      expect(formatPkcs11Uri(uri)).toBe(info!.uri);
      // The URI names that key and no other.
      expect(store.publicKey({ label: uri.object!, id: uri.id! }).spkiSha256).toBe(k.spkiSha256);
    }
    expect(listed.find((x) => x.label === 'listed-backup')!.protection).toMatchObject({ extractable: true, wrapWithTrusted: true, neverExtractable: false });
    expect(listed.find((x) => x.label === 'listed-0')!.protection).toMatchObject({ extractable: false, neverExtractable: true });
  });

  it('publicKey() of a key that does not exist is key-not-found', () => {
    expect(() => store.publicKey({ label: 'no-such-key' })).toThrow(expect.objectContaining({ kind: 'key-not-found' }));
  });
});

describe('refusing a generated key that is not what was asked for', () => {
  const GOOD: KeyProtection = {
    token: true,
    private: true,
    sensitive: true,
    extractable: false,
    sign: true,
    decrypt: false,
    unwrap: false,
    derive: false,
    local: true,
    alwaysSensitive: true,
    neverExtractable: true,
    wrapWithTrusted: false,
  };
  const GOOD_BACKUP: KeyProtection = { ...GOOD, extractable: true, neverExtractable: false, wrapWithTrusted: true };

  it('accepts the attributes a correct key has', () => {
    expect(protectionProblem(GOOD, false)).toBeUndefined();
    expect(protectionProblem(GOOD_BACKUP, true)).toBeUndefined();
    // A key made for backup is not a never-extractable key, and the other way round.
    expect(protectionProblem(GOOD_BACKUP, false)).toBeDefined();
    expect(protectionProblem(GOOD, true)).toBeDefined();
  });

  // [attribute flipped, backup-capable request, the refusal]
  const FLIPS: [keyof KeyProtection, boolean, string | undefined][] = [
    ['token', false, 'token is false, expected true'],
    ['private', false, 'private is false, expected true'],
    ['sensitive', false, 'sensitive is false, expected true'],
    ['sign', false, 'sign is false, expected true'],
    ['decrypt', false, 'decrypt is true, expected false'],
    ['unwrap', false, 'unwrap is true, expected false'],
    ['derive', false, 'derive is true, expected false'],
    ['local', false, 'local is false, expected true'],
    ['alwaysSensitive', false, 'alwaysSensitive is false, expected true'],
    ['extractable', false, 'extractable is true, expected false'],
    ['neverExtractable', false, 'neverExtractable is false, expected true'],
    // Harmless without extractability: not checked for a never-extractable key.
    ['wrapWithTrusted', false, undefined],
    ['token', true, 'token is false, expected true'],
    ['private', true, 'private is false, expected true'],
    ['sensitive', true, 'sensitive is false, expected true'],
    ['sign', true, 'sign is false, expected true'],
    ['decrypt', true, 'decrypt is true, expected false'],
    ['unwrap', true, 'unwrap is true, expected false'],
    ['derive', true, 'derive is true, expected false'],
    ['local', true, 'local is false, expected true'],
    ['alwaysSensitive', true, 'alwaysSensitive is false, expected true'],
    ['extractable', true, 'extractable is false, expected true'],
    ['neverExtractable', true, 'neverExtractable is true, expected false'],
    ['wrapWithTrusted', true, 'wrapWithTrusted is false, expected true'],
  ];
  it.each(FLIPS)('%s flipped (backup-capable: %s) → %s', (attr, backup, problem) => {
    const base = backup ? GOOD_BACKUP : GOOD;
    expect(protectionProblem({ ...base, [attr]: !base[attr] }, backup)).toBe(problem);
  });

  it('an attribute the token does not report is a refusal, never a pass', () => {
    expect(protectionProblem(GOOD, false, ['decrypt'])).toBe('decrypt is not reported by the token');
    expect(protectionProblem(GOOD, false, ['extractable'])).toBe('extractable is not reported by the token');
    expect(protectionProblem(GOOD, false, ['wrapWithTrusted'])).toBeUndefined();
    expect(protectionProblem(GOOD_BACKUP, true, ['wrapWithTrusted'])).toBe('wrapWithTrusted is not reported by the token');
  });

  function generateThroughShim(label: string): { key?: GeneratedKey; err?: HsmError } {
    try {
      return { key: shimStore.generate({ type: 'ec-p256', label }) };
    } catch (e) {
      expect(e).toBeInstanceOf(HsmError);
      return { err: e as HsmError };
    } finally {
      fc.clear();
    }
  }

  // How the destroy path is exercised for real: SoftHSM2 always makes correct keys, so the fault shim lies about
  // what the token holds. C_GenerateKeyPair really runs and the pair really exists on the token; then one
  // C_GetAttributeValue of the read-back answers CKR_ATTRIBUTE_TYPE_INVALID (0x12), as a token that does not
  // support (or withholds) the attribute would. A required attribute the token will not state must get the key
  // refused AND both halves destroyed: afterwards the token holds exactly the objects it held before.
  it('hiding any one protective attribute from the read-back gets the key refused and destroyed', () => {
    const required = ['token', 'private', 'sensitive', 'extractable', 'sign', 'decrypt', 'unwrap', 'derive', 'local', 'alwaysSensitive', 'neverExtractable'];
    const refusedFor = new Set<string>();
    // Forward the first n C_GetAttributeValue calls (delay=0), fail call n+1. Walking n upward hides each read of
    // the read-back in turn, whatever their order and however many calls pkcs11js makes per attribute (it makes
    // two: length, then value). Stop once every required attribute has been hidden once.
    for (let n = 0; refusedFor.size < required.length; n++) {
      expect(n, `still not refused for: ${required.filter((r) => !refusedFor.has(r)).join(', ')}`).toBeLessThan(64);
      const label = `hidden-${n}`;
      const before = find([]).length;
      fc.inject([`C_GetAttributeValue delay=0 ${n}`, 'C_GetAttributeValue rv=0x12 1']);
      const { key, err } = generateThroughShim(label);
      if (key) {
        // Only an attribute this key does not need can go missing unnoticed (CKA_WRAP_WITH_TRUSTED, non-backup key).
        expect(key.protection.wrapWithTrusted).toBe(false);
        continue;
      }
      expect(err!.kind).toBe('key-mismatch');
      const m = /^generated key refused and destroyed: (\w+) is not reported by the token$/.exec(err!.message);
      expect(m, err!.message).not.toBeNull();
      refusedFor.add(m![1]!);
      expect(objectsLabelled(label)).toEqual([]);
      expect(find([]).length).toBe(before);
    }
    expect([...refusedFor].sort()).toEqual([...required].sort());
  });

  it('a device failure during the read-back also destroys the new pair, and the label stays usable', () => {
    const before = find([]).length;
    fc.inject('C_GetAttributeValue rv=CKR_DEVICE_ERROR 1');
    const { err } = generateThroughShim('device-error');
    expect(err?.kind).toBe('unavailable');
    expect(err?.ckr).toBe(0x30);
    expect(objectsLabelled('device-error')).toEqual([]);
    expect(find([]).length).toBe(before);
    // Nothing was left behind under that label: generating it again works.
    const { key } = generateThroughShim('device-error');
    expect(key?.label).toBe('device-error');
    expect(objectsLabelled('device-error')).toHaveLength(2);
  });

  it('a failed C_GenerateKeyPair is reported with its CKR code and leaves nothing behind', () => {
    const before = find([]).length;
    fc.inject('C_GenerateKeyPair rv=CKR_DEVICE_MEMORY 1');
    const { err } = generateThroughShim('no-memory');
    expect(err?.kind).toBe('device');
    expect(err?.ckr).toBe(0x31);
    expect(err?.message).toMatch(/C_GenerateKeyPair failed with CKR_DEVICE_MEMORY/);
    expect(find([]).length).toBe(before);
  });
});
