/**
 * Which module, token and PIN a CLI command uses: flags first, then a key URI's attributes, then STRONGROOM_HSM_*
 * environment variables, then defaults. A PIN is never accepted as a flag.
 */
import { resolve } from 'node:path';
import {
  isSoftHsm,
  parsePinSource,
  parsePkcs11Uri,
  readPin,
  SOFTHSM_MODULE,
  useSoftHsmDataDir,
  type KeySelector,
  type PinSource,
  type TokenSelector,
} from '../../hsm/index.ts';

export interface HsmFlags {
  module?: string;
  token?: string;
  'token-serial'?: string;
  'pin-source'?: string;
  key?: string;
  'data-dir'?: string;
}

export const hsmFlagSpec = {
  module: { type: 'string' },
  token: { type: 'string' },
  'token-serial': { type: 'string' },
  'pin-source': { type: 'string' },
  key: { type: 'string' },
  'data-dir': { type: 'string' },
} as const;

export interface HsmTarget {
  module: string;
  token: TokenSelector;
  pinSource: PinSource;
  key?: KeySelector;
  dataDir: string;
}

export function dataDirOf(flags: { 'data-dir'?: string }, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flags['data-dir'] ?? env.STRONGROOM_DATA_DIR ?? 'var');
}

export function resolveHsmTarget(flags: HsmFlags, env: NodeJS.ProcessEnv = process.env): HsmTarget {
  const uri = flags.key ? parsePkcs11Uri(flags.key) : {};
  const module = flags.module ?? uri.modulePath ?? env.STRONGROOM_HSM_MODULE ?? SOFTHSM_MODULE;
  const serial = flags['token-serial'] ?? uri.serial ?? env.STRONGROOM_HSM_TOKEN_SERIAL;
  const label = flags.token ?? uri.token ?? env.STRONGROOM_HSM_TOKEN ?? (serial ? undefined : 'strongroom');
  const pinText = flags['pin-source'] ?? uri.pinSource ?? env.STRONGROOM_HSM_PIN_SOURCE;
  const pinSource: PinSource = pinText ? parsePinSource(pinText) : env.STRONGROOM_HSM_PIN !== undefined ? { env: 'STRONGROOM_HSM_PIN' } : { prompt: 'HSM user PIN: ' };
  const dataDir = dataDirOf(flags, env);
  // Dev and test tokens live in the data directory unless SOFTHSM2_CONF says otherwise.
  if (isSoftHsm(module)) useSoftHsmDataDir(dataDir, env);
  const key = uri.object !== undefined || uri.id !== undefined ? { ...(uri.object !== undefined ? { label: uri.object } : {}), ...(uri.id !== undefined ? { id: uri.id } : {}) } : undefined;
  return {
    module,
    token: { ...(label !== undefined ? { label } : {}), ...(serial !== undefined ? { serial } : {}) },
    pinSource,
    ...(key ? { key } : {}),
    dataDir,
  };
}

export async function pinFor(target: HsmTarget, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return readPin(target.pinSource, env);
}
