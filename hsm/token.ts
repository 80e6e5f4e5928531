/**
 * Module, slot and session plumbing shared by the pool's workers and the main-thread key store.
 */
import pkcs11js from 'pkcs11js';
import { CKR, ckrName, ckrOf, recoveryFor } from './ckr.ts';
import { HsmError, HsmUnavailable } from './errors.ts';

export type Pkcs11 = pkcs11js.PKCS11;

const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;
export type Handle = pkcs11js.Handle;
export { pkcs11js };

export interface TokenSelector {
  label?: string;
  serial?: string;
}

export function loadModule(path: string): Pkcs11 {
  const p = new pkcs11js.PKCS11();
  try {
    p.load(path);
  } catch (e) {
    throw new HsmUnavailable(`cannot load PKCS#11 module ${path}: ${(e as Error).message}`);
  }
  initialize(p);
  return p;
}

/** C_Initialize with OS locking; a second initialisation from another thread of this process is expected. */
export function initialize(p: Pkcs11): void {
  try {
    p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    if (ckrOf(e) !== CKR.CRYPTOKI_ALREADY_INITIALIZED) throw toHsmError(e, 'C_Initialize');
  }
}

/** Token labels are blank-padded to 32 bytes (some libraries pad with NULs). */
export function tokenLabel(raw: string): string {
  return raw.replace(/[\0 ]+$/, '');
}

export function describeSelector(sel: TokenSelector): string {
  return sel.label !== undefined ? `label "${sel.label}"` : `serial "${sel.serial}"`;
}

export function findSlot(p: Pkcs11, sel: TokenSelector): Handle {
  if (sel.label === undefined && sel.serial === undefined) throw new HsmError('bad-request', 'select the token by label or serial');
  let slots: Handle[];
  try {
    slots = p.C_GetSlotList(true);
  } catch (e) {
    throw toHsmError(e, 'C_GetSlotList');
  }
  const matches = slots.filter((slot) => {
    const info = p.C_GetTokenInfo(slot);
    if (sel.label !== undefined && tokenLabel(info.label) !== sel.label) return false;
    if (sel.serial !== undefined && info.serialNumber.trim() !== sel.serial) return false;
    return (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0;
  });
  if (matches.length === 0) throw new HsmUnavailable(`no token with ${describeSelector(sel)}`, CKR.TOKEN_NOT_PRESENT);
  if (matches.length > 1) throw new HsmError('bad-request', `several tokens have ${describeSelector(sel)}; select by serial`);
  return matches[0]!;
}

export function openSession(p: Pkcs11, slot: Handle, readWrite = false): Handle {
  const flags = pkcs11js.CKF_SERIAL_SESSION | (readWrite ? pkcs11js.CKF_RW_SESSION : 0);
  try {
    return p.C_OpenSession(slot, flags);
  } catch (e) {
    throw toHsmError(e, 'C_OpenSession');
  }
}

/** Exactly one C_Login. Login state is per application, so "already logged in" from another session is success. */
export function login(p: Pkcs11, session: Handle, pin: string): void {
  try {
    p.C_Login(session, pkcs11js.CKU_USER, pin);
  } catch (e) {
    if (ckrOf(e) === CKR.USER_ALREADY_LOGGED_IN) return;
    throw toHsmError(e, 'C_Login');
  }
}

export function isLoggedIn(p: Pkcs11, session: Handle): boolean {
  const state = p.C_GetSessionInfo(session).state;
  return state === CKS_RO_USER_FUNCTIONS || state === CKS_RW_USER_FUNCTIONS;
}

export function closeQuietly(p: Pkcs11, session: Handle | undefined): void {
  if (session === undefined) return;
  try {
    p.C_CloseSession(session);
  } catch {
    // Already gone: that is why we are closing it.
  }
}

/** Translates a pkcs11js failure into the typed error callers branch on; the message never carries secrets. */
export function toHsmError(e: unknown, op: string): HsmError {
  if (e instanceof HsmError) return e;
  const code = ckrOf(e);
  if (code === undefined) return new HsmError('device', `${op}: ${(e as Error)?.message ?? String(e)}`);
  const what = `${op} failed with ${ckrName(code)}`;
  switch (recoveryFor(code)) {
    case 'credentials':
      return new HsmError('auth', code === CKR.PIN_LOCKED ? `${what}: the user PIN is locked` : `${what}: wrong PIN`, code);
    case 'token-down':
    case 'reinitialize':
      return new HsmUnavailable(what, code);
    default:
      return new HsmError('device', what, code);
  }
}
