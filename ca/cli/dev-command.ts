/**
 * `strongroom dev`: the quick start. Prepares a SoftHSM2 dev token with the CA's keys (PINs in 0600 files in the
 * data directory — a dev convenience a production token never gets), migrates the database, and proves the
 * signing path end to end through the session pool.
 */
import { randomBytes, verify, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HsmError, initSoftToken, Pkcs11KeyStore, PoolSigner, SessionPool, SOFTHSM_MODULE, useSoftHsmDataDir, type KeyType } from '../../hsm/index.ts';
import { databaseUrlFromEnv, openDatabase } from '../db/connect.ts';
import { migrateLatest } from '../db/migrate.ts';
import { EXIT, UsageError } from './cli-error.ts';
import { formatKeys } from './hsm-command.ts';
import { dataDirOf } from './hsm-options.ts';

export const DEV_TOKEN = 'strongroom-dev';

/** The keys the CA's later parts use, by label. */
export const DEV_KEYS: { label: string; type: KeyType }[] = [
  { label: 'root-ca', type: 'ec-p384' },
  { label: 'issuing-ca', type: 'ec-p256' },
  { label: 'ocsp-responder', type: 'ec-p256' },
  { label: 'tsa', type: 'ec-p256' },
];

function secretFile(path: string): string {
  if (!existsSync(path)) writeFileSync(path, randomBytes(12).toString('hex'), { mode: 0o600, flag: 'wx' });
  return readFileSync(path, 'utf8').trim();
}

export async function devCommand(argv: string[], out: (line: string) => void): Promise<number> {
  let flags: { 'data-dir'?: string };
  try {
    flags = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' } }, strict: true }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const dataDir = dataDirOf(flags);
  const conf = useSoftHsmDataDir(dataDir);
  const pinFile = join(dataDir, 'dev-pin');
  const pin = secretFile(pinFile);
  const soPin = secretFile(join(dataDir, 'dev-so-pin'));
  const token = { label: DEV_TOKEN };

  let store: Pkcs11KeyStore;
  try {
    store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token, pin });
  } catch (e) {
    if (!(e instanceof HsmError && e.kind === 'unavailable')) throw e;
    const serial = initSoftToken({ module: SOFTHSM_MODULE, label: DEV_TOKEN, soPin, userPin: pin });
    out(`initialised SoftHSM2 token "${DEV_TOKEN}" (serial ${serial}) in ${conf}`);
    store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token, pin });
  }
  try {
    const have = new Set(store.list().map((k) => k.label));
    for (const k of DEV_KEYS) {
      if (have.has(k.label)) continue;
      const g = store.generate({ type: k.type, label: k.label });
      out(`generated ${g.type} key "${g.label}" inside the token`);
    }
    for (const line of formatKeys(store.list())) out(`  ${line}`);
  } finally {
    store.close();
  }

  const url = databaseUrlFromEnv();
  const db = await openDatabase({ ...(url ? { url } : {}), dataDir });
  try {
    const applied = await migrateLatest(db);
    out(`database ${url ? 'at DATABASE_URL' : `embedded in ${join(dataDir, 'pgdata')}`}: ${applied.length ? `applied ${applied.length} migration(s)` : 'up to date'}`);
  } finally {
    await db.destroy();
  }

  // End-to-end check of the signing path: pool → worker → token → DER signature → verified outside the HSM.
  const pool = await SessionPool.open({
    primary: { name: 'primary', module: SOFTHSM_MODULE, token, pin },
    workers: 2,
    pipelineDepth: 16,
    queueLimit: 1024,
    deadlineMs: 2000,
    keyHandles: 'session-copy',
  });
  try {
    const s2 = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token, pin });
    const pub = s2.publicKey({ label: 'issuing-ca' });
    s2.close();
    const signer = new PoolSigner(pool, { label: 'issuing-ca' }, pub.keyType, pub.spki);
    const message = Buffer.from(`strongroom dev self-check ${new Date().toISOString()}`);
    const sig = await signer.sign(message);
    const ok = verify('sha256', message, createPublicKey({ key: pub.spki, format: 'der', type: 'spki' }), sig);
    if (!ok) throw new Error('self-check signature did not verify');
    out(`signing self-check: issuing-ca signed through the session pool, signature verified`);
  } finally {
    await pool.close();
  }
  out('');
  out('The dev token and database are ready. To use them with other commands:');
  out(`  export SOFTHSM2_CONF=${conf} STRONGROOM_HSM_TOKEN=${DEV_TOKEN} STRONGROOM_HSM_PIN_SOURCE=file:${pinFile}`);
  out('  npx strongroom hsm keys');
  return EXIT.ok;
}
