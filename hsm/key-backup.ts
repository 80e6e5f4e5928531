/**
 * M-of-N key backup, the PKCS#11 side: a backup-capable private key (CKA_EXTRACTABLE + CKA_WRAP_WITH_TRUSTED) is
 * wrapped with CKM_AES_KEY_WRAP_PAD under a key-encryption key (KEK) that the caller holds and splits among
 * custodians. Plaintext key material never leaves the token: the token wraps, and only the wrapped blob comes out.
 *
 * SoftHSM2 2.6.1 (and PKCS#11 in general) makes this a two-officer affair:
 * - a CKA_WRAP_WITH_TRUSTED key can be wrapped only under a key with CKA_TRUSTED (else CKR_KEY_NOT_WRAPPABLE);
 * - only the security officer may create an object with CKA_TRUSTED (a user gets CKR_ATTRIBUTE_READ_ONLY), and an
 *   SO session can create public objects only (CKA_PRIVATE true → CKR_USER_NOT_LOGGED_IN);
 * - the user and the SO cannot be logged in at once in one application (CKR_USER_ANOTHER_ALREADY_LOGGED_IN).
 * So one read-write session does: SO login → create the trusted KEK as a public *session* object → SO logout →
 * user login → checks → C_WrapKey → destroy the KEK → user logout → close. A session object dies with its session
 * (and with the process), so the KEK cannot outlive the backup even if destroying it failed; nothing is written to
 * the token. Exactly one C_Login per role, never retried.
 *
 * Restore and scratch-key destruction live in key-backup-restore.ts.
 */
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { CKR, ckrName, ckrOf } from './ckr.ts';
import { HsmError } from './errors.ts';
import { bool, bitLength, findOne, getAttributes, readPublicKey, ulong, type KeySelector } from './key-objects.ts';
import { defaultAlgorithm, EC_PARAMS, type KeyType, type SignatureAlgorithm } from './key-spec.ts';
import type { TokenDescription } from './key-store.ts';
import { destroyQuietly } from './keygen.ts';
import { spkiSha256 } from './public-key.ts';
import { signOnSession } from './sign-operation.ts';
import { closeQuietly, findSlot, loadModule, login, openSession, pkcs11js, toHsmError, tokenLabel, type Handle, type Pkcs11, type TokenSelector } from './token.ts';

/** The only wrapping mechanism: AES key wrap with padding (RFC 5649), CKM_AES_KEY_WRAP_PAD. */
export type WrapMechanism = 'aes-key-wrap-pad';
export const CKM_AES_KEY_WRAP_PAD = 0x210a;
export const KEK_BYTES = 32;

/** Return codes this file names or branches on that hsm/ckr.ts does not list. */
export const BACKUP_CKR = {
  GENERAL_ERROR: 0x05,
  FUNCTION_FAILED: 0x06,
  ATTRIBUTE_READ_ONLY: 0x10,
  ENCRYPTED_DATA_INVALID: 0x40,
  ENCRYPTED_DATA_LEN_RANGE: 0x41,
  KEY_NOT_WRAPPABLE: 0x69,
  KEY_UNEXTRACTABLE: 0x6a,
  PIN_INVALID: 0xa1,
  PIN_LEN_RANGE: 0xa2,
  TEMPLATE_INCONSISTENT: 0xd1,
  USER_ANOTHER_ALREADY_LOGGED_IN: 0x104,
  WRAPPED_KEY_INVALID: 0x110,
  WRAPPED_KEY_LEN_RANGE: 0x112,
  WRAPPING_KEY_HANDLE_INVALID: 0x113,
} as const;

const CKS_RO_PUBLIC_SESSION = 0;
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_PUBLIC_SESSION = 2;
const CKS_RW_USER_FUNCTIONS = 3;
const CKS_RW_SO_FUNCTIONS = 4;

/**
 * The CKR code of a pkcs11js failure. pkcs11js 2.1 gives most C_* failures a numeric `code`, but not those of
 * C_CreateObject, C_CopyObject and C_SetAttributeValue (its subclass overrides them outside its error wrapper):
 * those throw a plain Error whose message is "CKR_NAME:<decimal>". Both shapes are read here.
 */
export function pkcs11Code(e: unknown): number | undefined {
  const code = ckrOf(e);
  if (code !== undefined) return code;
  const m = e instanceof Error ? /\bCKR_[A-Z0-9_]+:(\d+)/.exec(e.message) : null;
  return m ? Number(m[1]) : undefined;
}

export function codeName(code: number): string {
  const local = Object.entries(BACKUP_CKR).find(([, v]) => v === code);
  return local ? `CKR_${local[0]}` : ckrName(code);
}

/** toHsmError for both pkcs11js error shapes (see pkcs11Code). */
export function backupError(e: unknown, op: string): HsmError {
  if (e instanceof HsmError) return e;
  const code = pkcs11Code(e);
  if (code === undefined) return toHsmError(e, op);
  const mapped = toHsmError(Object.assign(new Error(`${op} failed`), { code }), op);
  // Same kind and code; the message names codes ckr.ts does not list (CKR_ATTRIBUTE_READ_ONLY, ...).
  return mapped.kind === 'device' && mapped.constructor === HsmError ? new HsmError('device', `${op} failed with ${codeName(code)}`, code) : mapped;
}

/** Runs one PKCS#11 call, translating its failure. */
export function call<T>(op: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw backupError(e, op);
  }
}

/** "public", "user" or "so": who this application is logged in as on the session's token. */
export function loginState(p: Pkcs11, session: Handle): 'public' | 'user' | 'so' {
  const state = call('C_GetSessionInfo', () => p.C_GetSessionInfo(session)).state;
  if (state === CKS_RO_USER_FUNCTIONS || state === CKS_RW_USER_FUNCTIONS) return 'user';
  if (state === CKS_RW_SO_FUNCTIONS) return 'so';
  if (state === CKS_RO_PUBLIC_SESSION || state === CKS_RW_PUBLIC_SESSION) return 'public';
  throw new HsmError('device', `C_GetSessionInfo reported an unknown session state ${state}`);
}

/**
 * Exactly one C_Login as the security officer; never retried. "Already logged in" (this application's SO login from
 * another session) is success, as for the user in token.ts. A user login of this application blocks it
 * (CKR_USER_ANOTHER_ALREADY_LOGGED_IN): that is a 'bad-request' and costs no PIN attempt.
 */
export function loginSecurityOfficer(p: Pkcs11, session: Handle, soPin: string): void {
  try {
    p.C_Login(session, pkcs11js.CKU_SO, soPin);
  } catch (e) {
    const code = pkcs11Code(e);
    const what = `C_Login as security officer failed with ${code === undefined ? 'an error' : codeName(code)}`;
    switch (code) {
      case CKR.USER_ALREADY_LOGGED_IN:
        return;
      case CKR.PIN_INCORRECT:
      case BACKUP_CKR.PIN_INVALID:
      case BACKUP_CKR.PIN_LEN_RANGE:
        throw new HsmError('auth', `${what}: wrong SO PIN`, code);
      case CKR.PIN_LOCKED:
        throw new HsmError('auth', `${what}: the SO PIN is locked`, code);
      case BACKUP_CKR.USER_ANOTHER_ALREADY_LOGGED_IN:
        throw new HsmError('bad-request', `${what}: the user is logged in to this token in this process; close its key stores and pools first`, code);
      default:
        throw backupError(e, 'C_Login (security officer)');
    }
  }
}

/**
 * Logs the user in unless this application already is; returns whether this call logged in (and so should log out).
 * An SO login of this application is refused as a 'bad-request' before any attempt.
 */
export function loginUserOnce(p: Pkcs11, session: Handle, pin: string): boolean {
  const state = loginState(p, session);
  if (state === 'user') return false;
  if (state === 'so') throw new HsmError('bad-request', 'the security officer is logged in to this token in this process; the user cannot log in until it logs out');
  login(p, session, pin);
  return true;
}

export function logoutQuietly(p: Pkcs11, session: Handle): void {
  try {
    p.C_Logout(session);
  } catch {
    // Not logged in, or the session is gone: either way nobody is logged in through it any more.
  }
}

export function describeToken(p: Pkcs11, slot: Handle): TokenDescription {
  const info = call('C_GetTokenInfo', () => p.C_GetTokenInfo(slot));
  return { label: tokenLabel(info.label), serial: info.serialNumber.trim(), manufacturer: info.manufacturerID.trim(), model: info.model.trim() };
}

/** A KEK as the caller hands it over: exactly 32 bytes, copied so it can be zeroed after use. */
export function kekCopy(kek: Uint8Array): Buffer {
  if (!(kek instanceof Uint8Array) || kek.length !== KEK_BYTES) throw new HsmError('bad-request', `the key-encryption key must be ${KEK_BYTES} bytes (AES-256)`);
  return Buffer.from(kek);
}

/** Key types whose private keys can be wrapped and unwrapped here (SoftHSM2 2.6.1 refuses to wrap EdDSA keys). */
export type BackupKeyType = Extract<KeyType, 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096'>;

export function isBackupKeyType(t: KeyType): t is BackupKeyType {
  return t.startsWith('ec-') || t.startsWith('rsa-');
}

/** A signature over a fresh random challenge, made in the token and verified against the public key in Node. */
export interface PossessionProof {
  algorithm: SignatureAlgorithm;
  challenge: Buffer;
  /** DER for ECDSA, the PKCS#1 v1.5 block for RSA. */
  signature: Buffer;
}

/**
 * Signs a random challenge with `privateKey` and verifies it against `spki` in Node. Throws 'key-mismatch' when the
 * token's signature does not verify; a PKCS#11 failure is translated as usual.
 */
export function proveKey(p: Pkcs11, session: Handle, privateKey: Handle, keyType: BackupKeyType, spki: KeyObject): PossessionProof {
  const algorithm = defaultAlgorithm(keyType);
  const challenge = randomBytes(32);
  const signature = Buffer.from(call('C_Sign', () => signOnSession(p, session, privateKey, keyType, algorithm, challenge, 'der', Buffer.alloc(1024))));
  const hash = algorithm.slice(algorithm.lastIndexOf('-') + 1);
  let ok = false;
  try {
    ok = verify(hash, challenge, spki, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new HsmError('key-mismatch', `the private key's ${algorithm} signature does not verify against the public key`);
  return { algorithm, challenge, signature };
}

export interface BackupRequest {
  module: string;
  token: TokenSelector;
  userPin: string;
  soPin: string;
  key: KeySelector;
  /** 32 bytes chosen by the caller, who splits it M-of-N among custodians. Never stored; the caller zeroes it. */
  kek: Uint8Array;
}

export interface KeyBackup {
  /** The private key wrapped under the KEK (AES-KWP over the token's PKCS#8 encoding): 80 bytes for P-256. */
  wrapped: Buffer;
  mechanism: WrapMechanism;
  keyType: BackupKeyType;
  /** The public key, so a restore can prove it restored this key. */
  spki: Buffer;
  spkiSha256: string;
  label: string;
  /** CKA_ID, lowercase hex. */
  id: string;
  /** The token the key was wrapped on, for the ceremony transcript. */
  token: TokenDescription;
  /** The key signed a challenge that verifies against `spki` before it was wrapped: the pair belongs together. */
  proof: PossessionProof;
}

/** The trusted wrap-only KEK: public (an SO session can create nothing else), sensitive, never extractable. */
function trustedKekTemplate(value: Buffer): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE, value },
    // A session object: it dies with the backup's session even if C_DestroyObject never runs.
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_TRUSTED, value: true },
    { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_SIGN, value: false },
    { type: pkcs11js.CKA_VERIFY, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_LABEL, value: `strongroom-backup-kek-${randomBytes(8).toString('hex')}` },
  ];
}

/** The private key to back up, checked: a supported type, backup-capable, with its public key proven to match. */
function backupSource(p: Pkcs11, session: Handle, sel: KeySelector): { handle: Handle; keyType: BackupKeyType; spki: Buffer; label: string; id: string; proof: PossessionProof } {
  const handle = findOne(p, session, pkcs11js.CKO_PRIVATE_KEY, sel);
  const a = getAttributes(p, session, handle, [
    pkcs11js.CKA_LABEL,
    pkcs11js.CKA_ID,
    pkcs11js.CKA_KEY_TYPE,
    pkcs11js.CKA_EXTRACTABLE,
    pkcs11js.CKA_WRAP_WITH_TRUSTED,
    pkcs11js.CKA_SENSITIVE,
    pkcs11js.CKA_EC_PARAMS,
    pkcs11js.CKA_MODULUS,
  ]);
  const label = a.get(pkcs11js.CKA_LABEL)?.toString('utf8') ?? '';
  const id = a.get(pkcs11js.CKA_ID)?.toString('hex') ?? '';
  const ckk = ulong(a.get(pkcs11js.CKA_KEY_TYPE));
  if (ckk !== pkcs11js.CKK_EC && ckk !== pkcs11js.CKK_RSA) {
    throw new HsmError('bad-request', `key ${label} cannot be backed up: only EC and RSA keys are wrapped (this one is CKK 0x${(ckk ?? 0).toString(16)})`);
  }
  if (bool(a, pkcs11js.CKA_EXTRACTABLE) !== true) {
    throw new HsmError('bad-request', `key ${label} is not backup-capable (CKA_EXTRACTABLE is false): it was generated to never leave its token`);
  }
  if (bool(a, pkcs11js.CKA_WRAP_WITH_TRUSTED) !== true) {
    throw new HsmError('bad-request', `key ${label} is not backup-capable: CKA_WRAP_WITH_TRUSTED is not set, so it is not bound to trusted wrapping keys`);
  }
  if (bool(a, pkcs11js.CKA_SENSITIVE) !== true) throw new HsmError('bad-request', `key ${label} is not sensitive: it is not a key Strongroom backs up`);
  const pub = readPublicKey(p, session, findOne(p, session, pkcs11js.CKO_PUBLIC_KEY, { label, id }));
  if (!isBackupKeyType(pub.keyType)) throw new HsmError('bad-request', `key ${label} is ${pub.keyType}: only EC and RSA keys are backed up`);
  // The private half must be the same kind of key as the public half; the signature below proves the rest.
  const ecParams = a.get(pkcs11js.CKA_EC_PARAMS)?.toString('hex');
  const modulus = a.get(pkcs11js.CKA_MODULUS);
  const same = pub.keyType.startsWith('ec-')
    ? ckk === pkcs11js.CKK_EC && ecParams === EC_PARAMS[pub.keyType as 'ec-p256']
    : ckk === pkcs11js.CKK_RSA && modulus !== undefined && `rsa-${bitLength(modulus)}` === pub.keyType;
  if (!same) throw new HsmError('key-mismatch', `the private and public key objects of ${label} are of different types`);
  const proof = proveKey(p, session, handle, pub.keyType, createPublicKey({ key: pub.spki, format: 'der', type: 'spki' }));
  return { handle, keyType: pub.keyType, spki: pub.spki, label, id, proof };
}

/**
 * Wraps a backup-capable private key under `kek`. Two logins, one attempt each, in this order: SO (to create the
 * trusted KEK), then user (to find and wrap the key). A wrong SO PIN stops before the user PIN is tried. Nobody of
 * this application may be logged in to the token when it starts (SO and user logins exclude each other): close
 * key stores and pools on the token first — refused with 'bad-request' otherwise, before any login.
 */
export function backupKey(req: BackupRequest): KeyBackup {
  const value = kekCopy(req.kek);
  try {
    const p = loadModule(req.module);
    const slot = findSlot(p, req.token);
    const token = describeToken(p, slot);
    const session = openSession(p, slot, true);
    let kek: Handle | undefined;
    const dropKek = () => {
      if (kek === undefined) return;
      destroyQuietly(p, session, kek);
      kek = undefined;
    };
    try {
      const state = loginState(p, session);
      if (state !== 'public') {
        throw new HsmError('bad-request', `this process is already logged in to token ${token.label} as ${state === 'so' ? 'security officer' : 'user'}; a backup needs the SO and then the user: close other key stores and pools on the token first`);
      }

      loginSecurityOfficer(p, session, req.soPin);
      try {
        kek = call('C_CreateObject (trusted KEK)', () => p.C_CreateObject(session, trustedKekTemplate(value)));
      } finally {
        value.fill(0);
        // Must succeed: the user cannot log in while the SO is.
        call('C_Logout (security officer)', () => p.C_Logout(session));
      }

      login(p, session, req.userPin);
      try {
        const source = backupSource(p, session, req.key);
        const wrapped = wrap(p, session, kek, source.handle, source.label);
        return {
          wrapped,
          mechanism: 'aes-key-wrap-pad',
          keyType: source.keyType,
          spki: source.spki,
          spkiSha256: spkiSha256(source.spki),
          label: source.label,
          id: source.id,
          token,
          proof: source.proof,
        };
      } finally {
        dropKek();
        logoutQuietly(p, session);
      }
    } finally {
      dropKek();
      closeQuietly(p, session);
    }
  } finally {
    value.fill(0);
  }
}

function wrap(p: Pkcs11, session: Handle, kek: Handle, key: Handle, label: string): Buffer {
  try {
    // PKCS#8 of an RSA-4096 key is about 2.4 kB; AES-KWP adds at most 15 bytes.
    return Buffer.from(p.C_WrapKey(session, { mechanism: CKM_AES_KEY_WRAP_PAD }, kek, key, Buffer.alloc(8192)));
  } catch (e) {
    const code = pkcs11Code(e);
    if (code === BACKUP_CKR.KEY_UNEXTRACTABLE || code === BACKUP_CKR.KEY_NOT_WRAPPABLE) {
      throw new HsmError('bad-request', `the token refuses to wrap key ${label} (${codeName(code)}): it is not backup-capable under this KEK`, code);
    }
    throw backupError(e, 'C_WrapKey');
  }
}

