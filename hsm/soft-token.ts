/**
 * SoftHSM2 dev and test tokens: a token directory of Strongroom's own and token initialisation through PKCS#11
 * (C_InitToken / C_InitPIN), so no PIN ever appears on a command line. Refused for any other module.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HsmError } from './errors.ts';
import { closeQuietly, loadModule, pkcs11js, toHsmError, tokenLabel } from './token.ts';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export function isSoftHsm(module: string): boolean {
  return /softhsm/i.test(module);
}

/** Points SoftHSM2 at `<dataDir>/tokens` unless SOFTHSM2_CONF already says otherwise. Call before loading it. */
export function useSoftHsmDataDir(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.SOFTHSM2_CONF) return env.SOFTHSM2_CONF;
  const tokens = join(dataDir, 'tokens');
  mkdirSync(tokens, { recursive: true, mode: 0o700 });
  const conf = join(dataDir, 'softhsm2.conf');
  if (!existsSync(conf)) writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 });
  env.SOFTHSM2_CONF = conf;
  return conf;
}

export interface InitTokenRequest {
  module: string;
  label: string;
  soPin: string;
  userPin: string;
}

/** Initialises a fresh token in a free SoftHSM2 slot; returns its serial. */
export function initSoftToken(req: InitTokenRequest): string {
  if (!isSoftHsm(req.module)) throw new HsmError('bad-request', 'init-token is for SoftHSM2 dev and test tokens only');
  if (req.label.length === 0 || Buffer.byteLength(req.label) > 32) throw new HsmError('bad-request', 'a token label is 1 to 32 bytes');
  const p = loadModule(req.module);
  const present = p.C_GetSlotList(true);
  if (present.some((s) => tokenLabel(p.C_GetTokenInfo(s).label) === req.label && p.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED)) {
    throw new HsmError('bad-request', `a token labelled "${req.label}" already exists`);
  }
  const free = present.find((s) => (p.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0);
  if (!free) throw new HsmError('unavailable', 'no free SoftHSM2 slot');
  try {
    // pkcs11js pads labels with NULs; PKCS#11 wants blanks.
    p.C_InitToken(free, req.soPin, req.label.padEnd(32, ' '));
  } catch (e) {
    throw toHsmError(e, 'C_InitToken');
  }
  // SoftHSM2 renumbers slots once a token is initialised: look it up again by label.
  const slot = p.C_GetSlotList(true).find((s) => tokenLabel(p.C_GetTokenInfo(s).label) === req.label);
  if (!slot) throw new HsmError('device', 'initialised token not found');
  const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    p.C_Login(session, pkcs11js.CKU_SO, req.soPin);
    p.C_InitPIN(session, req.userPin);
    p.C_Logout(session);
  } catch (e) {
    throw toHsmError(e, 'C_InitPIN');
  } finally {
    closeQuietly(p, session);
  }
  return p.C_GetTokenInfo(slot).serialNumber.trim();
}
