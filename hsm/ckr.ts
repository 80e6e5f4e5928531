/**
 * How the pool reacts to each PKCS#11 return code (../shared/reference/faults.md). Classification lives here so the
 * worker and the key store agree on it.
 */
export const CKR = {
  OK: 0x00,
  HOST_MEMORY: 0x02,
  GENERAL_ERROR: 0x05,
  DEVICE_ERROR: 0x30,
  DEVICE_MEMORY: 0x31,
  DEVICE_REMOVED: 0x32,
  KEY_HANDLE_INVALID: 0x60,
  OBJECT_HANDLE_INVALID: 0x82,
  OPERATION_ACTIVE: 0x90,
  PIN_INCORRECT: 0xa0,
  PIN_INVALID: 0xa1,
  PIN_LEN_RANGE: 0xa2,
  PIN_EXPIRED: 0xa3,
  PIN_LOCKED: 0xa4,
  SESSION_CLOSED: 0xb0,
  SESSION_HANDLE_INVALID: 0xb3,
  TOKEN_NOT_PRESENT: 0xe0,
  TOKEN_NOT_RECOGNIZED: 0xe1,
  USER_ALREADY_LOGGED_IN: 0x100,
  USER_NOT_LOGGED_IN: 0x101,
  ATTRIBUTE_SENSITIVE: 0x11,
  ATTRIBUTE_TYPE_INVALID: 0x12,
  CRYPTOKI_NOT_INITIALIZED: 0x190,
  CRYPTOKI_ALREADY_INITIALIZED: 0x191,
} as const;

export type Recovery =
  | 'reopen-session' // session gone: open a new one, retry once
  | 'relogin' // login lost: log in once more, retry once
  | 'refind-key' // cached key handle stale: find the key again, retry once
  | 'token-down' // mark down, fail fast, reconnect with backoff, fail over if possible
  | 'reinitialize' // module reset: finalize, initialize, reopen
  | 'credentials' // never retry
  | 'fail'; // not recoverable by retrying: report it

export function recoveryFor(code: number): Recovery {
  switch (code) {
    // OPERATION_ACTIVE: a signing operation left active on the session (a C_Sign that failed without ending it)
    // makes the session unusable for C_SignInit until that operation ends, so start over on a new session.
    case CKR.SESSION_HANDLE_INVALID:
    case CKR.SESSION_CLOSED:
    case CKR.OPERATION_ACTIVE:
      return 'reopen-session';
    case CKR.USER_NOT_LOGGED_IN:
      return 'relogin';
    case CKR.OBJECT_HANDLE_INVALID:
    case CKR.KEY_HANDLE_INVALID:
      return 'refind-key';
    case CKR.DEVICE_REMOVED:
    case CKR.TOKEN_NOT_PRESENT:
    case CKR.TOKEN_NOT_RECOGNIZED:
    case CKR.DEVICE_ERROR:
      return 'token-down';
    case CKR.CRYPTOKI_NOT_INITIALIZED:
      return 'reinitialize';
    case CKR.PIN_INCORRECT:
    case CKR.PIN_INVALID:
    case CKR.PIN_LEN_RANGE:
    case CKR.PIN_EXPIRED:
    case CKR.PIN_LOCKED:
      return 'credentials';
    default:
      return 'fail';
  }
}

/** The CKR code carried by a pkcs11js error, or undefined for anything else (a bug, a TypeError). */
export function ckrOf(e: unknown): number | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'number') {
    return (e as { code: number }).code;
  }
  // pkcs11js 2.1 attaches no code to some functions' errors (C_CreateObject, C_CopyObject, C_SetAttributeValue):
  // their message is "CKR_NAME:decimal".
  const m = e instanceof Error ? /\bCKR_[A-Z_]+:(\d+)\b/.exec(e.message) : null;
  return m ? Number(m[1]) : undefined;
}

export function ckrName(code: number): string {
  const entry = Object.entries(CKR).find(([, v]) => v === code);
  return entry ? `CKR_${entry[0]}` : `CKR_0x${code.toString(16)}`;
}
