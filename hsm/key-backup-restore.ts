/**
 * M-of-N key restore, the PKCS#11 side: the KEK (recombined from M custodians' shares by the caller) becomes a
 * private session object in the target token, the wrapped private key is unwrapped into the token under it, the
 * matching public key object is created from the backup's SPKI, and the pair is proven by a signature made in the
 * token over a fresh challenge that verifies in Node against that SPKI. Anything short of that proof destroys
 * both new objects. Plaintext key material never exists outside a token.
 *
 * An unwrapped key is not CKA_LOCAL, and SoftHSM2 reports CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false for
 * it: the read-back protection says so honestly; only the attributes set here are required.
 *
 * Also destroyKey, for the scratch-token cleanup after restore drills.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { HsmError } from './errors.ts';
import {
  BACKUP_CKR,
  call,
  CKM_AES_KEY_WRAP_PAD,
  codeName,
  describeToken,
  isBackupKeyType,
  kekCopy,
  loginUserOnce,
  logoutQuietly,
  pkcs11Code,
  backupError,
  proveKey,
  type BackupKeyType,
  type PossessionProof,
  type WrapMechanism,
} from './key-backup.ts';
import { bool, describeKey, findObjects, findOne, getAttributes, readPublicKey, type KeySelector } from './key-objects.ts';
import { EC_PARAMS, keyFamily, type KeyType } from './key-spec.ts';
import type { TokenDescription } from './key-store.ts';
import { destroyQuietly, readProtection, type GeneratedKey } from './keygen.ts';
import { spkiSha256 } from './public-key.ts';
import { closeQuietly, findSlot, loadModule, openSession, pkcs11js, type Handle, type Pkcs11, type TokenSelector } from './token.ts';

export interface RestoreRequest {
  module: string;
  token: TokenSelector;
  userPin: string;
  /**
   * Label and CKA_ID (lowercase hex) of the restored pair: normally the backup's own. Without an id the token's
   * C_GenerateRandom picks a fresh 16-byte one.
   */
  key: { label: string; id?: string };
  wrapped: Uint8Array;
  /** The 32-byte KEK the backup was wrapped under. Copied and zeroed here; the caller zeroes its own. */
  kek: Uint8Array;
  keyType: KeyType;
  /** The backed-up key's public key (DER SubjectPublicKeyInfo): what the restored key must prove it matches. */
  spki: Uint8Array;
  mechanism?: WrapMechanism;
  /** Restore as backup-capable again (CKA_EXTRACTABLE + CKA_WRAP_WITH_TRUSTED). Default false: it stays put. */
  backupCapable?: boolean;
}

export interface RestoredKey extends GeneratedKey {
  /** The token the key was restored into, for the ceremony transcript. */
  token: TokenDescription;
  /** The restored key signed `challenge`; the signature verifies against the backup's SPKI. */
  proof: PossessionProof;
}

/** C_UnwrapKey failures that mean "this KEK does not open this blob as this kind of key", not a broken token. */
const UNWRAP_REFUSALS: ReadonlySet<number> = new Set([
  BACKUP_CKR.WRAPPED_KEY_INVALID,
  BACKUP_CKR.WRAPPED_KEY_LEN_RANGE,
  BACKUP_CKR.ENCRYPTED_DATA_INVALID,
  BACKUP_CKR.ENCRYPTED_DATA_LEN_RANGE,
  // SoftHSM2 2.6.1: a wrong KEK or an altered blob (the AES-KWP integrity check fails) ...
  BACKUP_CKR.GENERAL_ERROR,
  // ... and a blob holding another kind of key than CKA_KEY_TYPE says.
  BACKUP_CKR.FUNCTION_FAILED,
]);

/** The backup's public key, parsed and checked against the declared key type. */
function expectedPublicKey(keyType: KeyType, spki: Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    throw new HsmError('bad-request', 'the backup\'s public key is not a DER SubjectPublicKeyInfo');
  }
  const d = key.asymmetricKeyDetails ?? {};
  const fits =
    keyType === 'ec-p256' || keyType === 'ec-p384'
      ? key.asymmetricKeyType === 'ec' && d.namedCurve === (keyType === 'ec-p256' ? 'prime256v1' : 'secp384r1')
      : key.asymmetricKeyType === 'rsa' && `rsa-${d.modulusLength}` === keyType && d.publicExponent === 65537n;
  if (!fits) throw new HsmError('bad-request', `the backup's public key is not a ${keyType} key`);
  return key;
}

function derOctetString(content: Buffer): Buffer {
  if (content.length > 127) throw new HsmError('bad-request', 'EC point too long');
  return Buffer.concat([Buffer.from([0x04, content.length]), content]);
}

/** The public key object's type-specific attributes, from the SPKI. */
function publicKeyAttributes(keyType: BackupKeyType, key: KeyObject): pkcs11js.Template {
  const jwk = key.export({ format: 'jwk' });
  if (keyFamily(keyType) === 'ec') {
    const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    return [
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
      { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(EC_PARAMS[keyType as 'ec-p256'], 'hex') },
      { type: pkcs11js.CKA_EC_POINT, value: derOctetString(point) },
    ];
  }
  return [
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
    { type: pkcs11js.CKA_MODULUS, value: Buffer.from(jwk.n!, 'base64url') },
    { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from(jwk.e!, 'base64url') },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_WRAP, value: false },
  ];
}

function unwrapKekTemplate(value: Buffer): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE, value },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_UNWRAP, value: true },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_SIGN, value: false },
    { type: pkcs11js.CKA_VERIFY, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
  ];
}

function privateKeyTemplate(keyType: BackupKeyType, label: string, id: Buffer, backupCapable: boolean): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyFamily(keyType) === 'ec' ? pkcs11js.CKK_EC : pkcs11js.CKK_RSA },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
    { type: pkcs11js.CKA_EXTRACTABLE, value: backupCapable },
    { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: backupCapable },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: id },
  ];
}

/** What a restored private key must report; local / always-sensitive / never-extractable are reported, not required. */
function restoredProblem(p: Pkcs11, session: Handle, handle: Handle, backupCapable: boolean): string | undefined {
  const want: [string, number, boolean][] = [
    ['CKA_TOKEN', pkcs11js.CKA_TOKEN, true],
    ['CKA_PRIVATE', pkcs11js.CKA_PRIVATE, true],
    ['CKA_SENSITIVE', pkcs11js.CKA_SENSITIVE, true],
    ['CKA_SIGN', pkcs11js.CKA_SIGN, true],
    ['CKA_DECRYPT', pkcs11js.CKA_DECRYPT, false],
    ['CKA_UNWRAP', pkcs11js.CKA_UNWRAP, false],
    ['CKA_DERIVE', pkcs11js.CKA_DERIVE, false],
    ['CKA_EXTRACTABLE', pkcs11js.CKA_EXTRACTABLE, backupCapable],
    ['CKA_WRAP_WITH_TRUSTED', pkcs11js.CKA_WRAP_WITH_TRUSTED, backupCapable],
  ];
  const a = getAttributes(p, session, handle, want.map(([, type]) => type));
  for (const [name, type, value] of want) {
    const got = bool(a, type);
    if (got === undefined) return `${name} is not reported by the token`;
    if (got !== value) return `${name} is ${got}, expected ${value}`;
  }
  return undefined;
}

/** The unwrapped private key is the key type the SPKI says, with the SPKI's curve or modulus and exponent. */
function privateMatchesSpki(p: Pkcs11, session: Handle, handle: Handle, keyType: BackupKeyType, key: KeyObject): boolean {
  const a = getAttributes(p, session, handle, [pkcs11js.CKA_EC_PARAMS, pkcs11js.CKA_MODULUS, pkcs11js.CKA_PUBLIC_EXPONENT]);
  if (keyFamily(keyType) === 'ec') return a.get(pkcs11js.CKA_EC_PARAMS)?.toString('hex') === EC_PARAMS[keyType as 'ec-p256'];
  const jwk = key.export({ format: 'jwk' });
  const strip = (b: Buffer | undefined) => (b === undefined ? '' : b.toString('hex').replace(/^(00)+/, ''));
  return strip(a.get(pkcs11js.CKA_MODULUS)) === strip(Buffer.from(jwk.n!, 'base64url')) && strip(a.get(pkcs11js.CKA_PUBLIC_EXPONENT)) === strip(Buffer.from(jwk.e!, 'base64url'));
}

function refuseClash(p: Pkcs11, session: Handle, label: string, id: string | undefined): void {
  const taken = (sel: KeySelector) => findObjects(p, session, pkcs11js.CKO_PRIVATE_KEY, sel).length + findObjects(p, session, pkcs11js.CKO_PUBLIC_KEY, sel).length > 0;
  if (taken({ label })) throw new HsmError('bad-request', `a key labelled "${label}" already exists on this token`);
  // Two keys with one CKA_ID would make every id= URI ambiguous.
  if (id !== undefined && taken({ id })) throw new HsmError('bad-request', `a key with id ${id} already exists on this token`);
}

function unwrap(p: Pkcs11, session: Handle, kek: Handle, wrapped: Buffer, template: pkcs11js.Template): Handle {
  try {
    return p.C_UnwrapKey(session, { mechanism: CKM_AES_KEY_WRAP_PAD }, kek, wrapped, template);
  } catch (e) {
    const code = pkcs11Code(e);
    if (code !== undefined && UNWRAP_REFUSALS.has(code)) {
      throw new HsmError('key-mismatch', `C_UnwrapKey failed with ${codeName(code)}: the KEK does not open this backup, or the backup is damaged or holds another type of key`, code);
    }
    throw backupError(e, 'C_UnwrapKey');
  }
}

function checkRequest(req: RestoreRequest): { keyType: BackupKeyType; key: KeyObject } {
  if (typeof req.key?.label !== 'string' || req.key.label.length === 0) throw new HsmError('bad-request', 'a restored key needs a label');
  if (req.key.id !== undefined && !/^(?:[0-9a-f]{2})+$/.test(req.key.id)) throw new HsmError('bad-request', 'the key id must be lowercase hex');
  if (req.mechanism !== undefined && req.mechanism !== 'aes-key-wrap-pad') throw new HsmError('bad-request', `unknown wrapping mechanism "${String(req.mechanism)}"`);
  if (!isBackupKeyType(req.keyType)) throw new HsmError('bad-request', `${req.keyType} keys are not backed up or restored`);
  if (!(req.wrapped instanceof Uint8Array) || req.wrapped.length === 0) throw new HsmError('bad-request', 'the wrapped key is empty');
  return { keyType: req.keyType, key: expectedPublicKey(req.keyType, req.spki) };
}

/**
 * Unwraps a backup into the token, creates its public key object and proves the pair by a signature that verifies
 * against `spki`. Refuses a label (or id) already on the token. Any failure after the unwrap destroys both new
 * objects; a KEK that does not open the backup, or a key that is not the backup's, is 'key-mismatch'. One user
 * login attempt at most (none if this process is already logged in as the user; then the login is left as found).
 */
export function restoreKey(req: RestoreRequest): RestoredKey {
  const { keyType, key: expected } = checkRequest(req);
  const backupCapable = req.backupCapable === true;
  const label = req.key.label;
  const value = kekCopy(req.kek);
  try {
    const p = loadModule(req.module);
    const slot = findSlot(p, req.token);
    const token = describeToken(p, slot);
    const session = openSession(p, slot, true);
    let loggedIn = false;
    let kek: Handle | undefined;
    let privateKey: Handle | undefined;
    let publicKey: Handle | undefined;
    const dropKek = () => {
      if (kek === undefined) return;
      destroyQuietly(p, session, kek);
      kek = undefined;
    };
    try {
      loggedIn = loginUserOnce(p, session, req.userPin);
      refuseClash(p, session, label, req.key.id);
      const id = req.key.id !== undefined ? Buffer.from(req.key.id, 'hex') : call('C_GenerateRandom', () => p.C_GenerateRandom(session, Buffer.alloc(16)));

      kek = call('C_CreateObject (unwrapping KEK)', () => p.C_CreateObject(session, unwrapKekTemplate(value)));
      value.fill(0);
      try {
        privateKey = unwrap(p, session, kek, Buffer.from(req.wrapped), privateKeyTemplate(keyType, label, id, backupCapable));
      } finally {
        dropKek();
      }
      const publicTemplate: pkcs11js.Template = [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        ...publicKeyAttributes(keyType, expected),
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: false },
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_ID, value: id },
      ];
      publicKey = call('C_CreateObject (public key)', () => p.C_CreateObject(session, publicTemplate));

      const problem = restoredProblem(p, session, privateKey, backupCapable);
      if (problem) throw new HsmError('key-mismatch', `restored key refused and destroyed: ${problem}`);
      if (!privateMatchesSpki(p, session, privateKey, keyType, expected)) {
        throw new HsmError('key-mismatch', `restored key refused and destroyed: the backup holds another key than the expected ${keyType} public key`);
      }
      const spki = readPublicKey(p, session, publicKey).spki;
      if (!spki.equals(expected.export({ type: 'spki', format: 'der' }))) throw new HsmError('key-mismatch', 'restored key refused and destroyed: the public key object does not read back as the expected public key');
      let proof: PossessionProof;
      try {
        proof = proveKey(p, session, privateKey, keyType, expected);
      } catch (e) {
        if (e instanceof HsmError && e.kind === 'key-mismatch') throw new HsmError('key-mismatch', `restored key refused and destroyed: ${e.message}`);
        throw e;
      }
      const protection = readProtection(p, session, privateKey);
      return { label, id: id.toString('hex'), type: keyType, spki, spkiSha256: spkiSha256(spki), protection, token, proof };
    } catch (e) {
      if (privateKey !== undefined) destroyQuietly(p, session, privateKey);
      if (publicKey !== undefined) destroyQuietly(p, session, publicKey);
      throw e;
    } finally {
      dropKek();
      if (loggedIn) logoutQuietly(p, session);
      closeQuietly(p, session);
    }
  } finally {
    value.fill(0);
  }
}

export interface DestroyKeyRequest {
  module: string;
  token: TokenSelector;
  userPin: string;
  key: KeySelector;
  /** Must equal the private key's CKA_LABEL: a typed confirmation, not a guess from the selector. */
  confirmLabel: string;
}

export interface DestroyedKey {
  label: string;
  id: string;
  /** Public key objects with the same label and id destroyed alongside (normally 1). */
  publicKeys: number;
}

/** Destroys a private key and its public key objects, e.g. a restore drill's key on a scratch token. */
export function destroyKey(req: DestroyKeyRequest): DestroyedKey {
  const p = loadModule(req.module);
  const slot = findSlot(p, req.token);
  const session = openSession(p, slot, true);
  let loggedIn = false;
  try {
    loggedIn = loginUserOnce(p, session, req.userPin);
    const handle = findOne(p, session, pkcs11js.CKO_PRIVATE_KEY, req.key);
    const a = getAttributes(p, session, handle, [pkcs11js.CKA_LABEL, pkcs11js.CKA_ID]);
    const label = a.get(pkcs11js.CKA_LABEL)?.toString('utf8') ?? '';
    const id = a.get(pkcs11js.CKA_ID)?.toString('hex') ?? '';
    if (req.confirmLabel !== label) throw new HsmError('bad-request', `refusing to destroy ${describeKey(req.key)}: its label is not the confirmed "${req.confirmLabel}"`);
    const publics = findObjects(p, session, pkcs11js.CKO_PUBLIC_KEY, { label, id });
    call('C_DestroyObject', () => p.C_DestroyObject(session, handle));
    for (const pub of publics) call('C_DestroyObject', () => p.C_DestroyObject(session, pub));
    return { label, id, publicKeys: publics.length };
  } finally {
    if (loggedIn) logoutQuietly(p, session);
    closeQuietly(p, session);
  }
}
