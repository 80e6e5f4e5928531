/**
 * DEV ONLY: the quick start's tokens, keys and PKI, created once in var/ and reused by every later start.
 * Two SoftHSM2 tokens stand in for the two HSMs of a real deployment: the offline root HSM and the online HSM.
 */
import { appendFileSync, copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HsmError, initSoftToken, Pkcs11KeyStore, SOFTHSM_MODULE, useSoftHsmDataDir, type KeyType } from '../../hsm/index.ts';
import { importAuthority } from '../authorities/import-authority.ts';
import { runCeremony } from '../ceremony/run.ts';
import type { AuthorityStore } from '../db/authority-store.ts';
import { writeDevCeremonies } from './dev-pki.ts';

export const DEV_ONLINE_TOKEN = 'strongroom-dev';
export const DEV_ROOT_TOKEN = 'strongroom-dev-root';
export const DEV_ISSUER = 'dev-issuing-ca';

/**
 * Keys the dev setup makes in the online HSM, by label. Only the issuing CA's: the OCSP responder, the TSA and the
 * HTTPS listener get keys of their own (svc-…) with their service certificates when the server starts.
 */
export const DEV_KEYS: { label: string; type: KeyType }[] = [{ label: 'issuing-ca', type: 'ec-p256' }];

function openOrInit(label: string, pin: string, soPin: string, out: (l: string) => void): Pkcs11KeyStore {
  try {
    return Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label }, pin });
  } catch (e) {
    if (!(e instanceof HsmError && e.kind === 'unavailable')) throw e;
    const serial = initSoftToken({ module: SOFTHSM_MODULE, label, soPin, userPin: pin });
    out(`initialised SoftHSM2 token "${label}" (serial ${serial})`);
    return Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label }, pin });
  }
}

export interface DevSetup {
  softhsmConf: string;
  rootPem: string;
  /** The root's CRL from the dev root-crl ceremony (PEM; served as DER). */
  rootCrl: string;
  issuingKeySpki: Uint8Array;
}

export async function setupDevPki(o: { varDir: string; pin: string; soPin: string; publicUrl: string; store: AuthorityStore; now: Date; out: (l: string) => void }): Promise<DevSetup> {
  const softhsmConf = useSoftHsmDataDir(o.varDir);
  const online = openOrInit(DEV_ONLINE_TOKEN, o.pin, o.soPin, o.out);
  let issuingKeySpki: Uint8Array;
  try {
    const have = new Set(online.list().map((k) => k.label));
    for (const k of DEV_KEYS) {
      if (have.has(k.label)) continue;
      const g = online.generate({ type: k.type, label: k.label });
      o.out(`generated ${g.type} key "${g.label}" inside the online token`);
    }
    issuingKeySpki = online.publicKey({ label: 'issuing-ca' }).spki;
  } finally {
    online.close();
  }
  openOrInit(DEV_ROOT_TOKEN, o.pin, o.soPin, o.out).close();

  const rootPem = join(o.varDir, 'root.pem');
  const paths = await writeDevCeremonies(o.varDir, { rootToken: DEV_ROOT_TOKEN, pin: o.pin, issuingSpki: issuingKeySpki, publicUrl: o.publicUrl, now: o.now });
  // The plans and transcript notes go to a log beside the ceremonies, not the quick start's console.
  const log = join(paths.dir, 'ceremonies.log');
  const io = { out: (l: string) => appendFileSync(log, `${l}\n`), err: (l: string) => appendFileSync(log, `${l}\n`), confirm: async () => true };
  const shares = { kind: 'files' as const, files: paths.shareFiles.map((path, i) => ({ custodian: `dev-custodian-${i + 1}`, path })) };
  const steps: [string, string][] = [
    ['root-key.yaml', join(paths.dir, 'root.pub.pem')],
    ['root-cert.yaml', paths.rootPem],
    ['intermediate-cert.yaml', paths.issuingPem],
    ['root-crl.yaml', paths.rootCrl],
  ];
  for (const [file, output] of steps) {
    if (existsSync(output)) continue;
    o.out(`ran the dev ${file.replace('.yaml', '')} ceremony (dev only: shares from files; plan and transcript in ${log})`);
    await runCeremony({ configPath: join(paths.dir, file), yes: true, dryRun: false, shares, io, softHsmDataDir: o.varDir });
  }
  if (!existsSync(rootPem)) copyFileSync(paths.rootPem, rootPem);

  if (!(await o.store.byName(DEV_ISSUER))) {
    const row = await importAuthority(
      {
        name: DEV_ISSUER,
        certificatePem: readFileSync(paths.issuingPem, 'utf8'),
        chainPem: [readFileSync(paths.rootPem, 'utf8')],
        keyUri: `pkcs11:token=${DEV_ONLINE_TOKEN};object=issuing-ca`,
        activate: true,
      },
      { store: o.store, now: () => o.now, publicKeyOf: async () => issuingKeySpki },
    );
    o.out(`imported the issuing CA "${row.name}" (${row.subjectDn})`);
  }
  return { softhsmConf, rootPem, rootCrl: paths.rootCrl, issuingKeySpki };
}
