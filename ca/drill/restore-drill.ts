/**
 * The restore drill: proves that the latest key backups can be restored, without touching any token in service.
 *
 * For each backed-up key (the newest backup per label, backup-files.ts): M of the KEK's N custodians give their
 * shares (prompted without echo, or — rehearsals only — share files matched to the backup by split id); the wrapped
 * key is unwrapped into a scratch token under a drill label (hsm/ restoreKey proves the pair by a signature in the
 * token against the backup's SPKI); its public key must be the backup's recorded SPKI, byte for byte; it then signs
 * a fresh challenge through the normal signing path (session pool, PoolSigner), verified in Node. Every restored key
 * is destroyed afterwards — on failure too — and the token is listed again to prove none is left.
 *
 * The scratch token must hold nothing but drill keys: a drill refuses a token with any other key before restoring,
 * so a mistyped label can never put a copy of a root key on the online token. Keys left by an interrupted drill
 * (labels `drill-…`) are destroyed first.
 */
import { createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { destroyKey, restoreKey } from '../../hsm/index.ts';
import { defaultAlgorithm } from '../../hsm/key-spec.ts';
import type { TokenSelector } from '../../hsm/token.ts';
import { gatherShares, openCeremonyHsm, type ShareFile, type ShareInput } from '../ceremony/context.ts';
import { combineShares, parseShare } from '../ceremony/custody.ts';
import { latestBackups, type BackupFile } from './backup-files.ts';
import { DrillError } from './drill-error.ts';

export const DRILL_LABEL_PREFIX = 'drill-';

export interface RestoreDrillOptions {
  backupDir: string;
  scratch: { module: string; token: TokenSelector; pin: string };
  /** Share files (rehearsals and tests only), matched to backups by their split id; else custodians are prompted. */
  kekShares: { kind: 'files'; files: ShareFile[] } | { kind: 'prompt'; ask?: (q: string) => Promise<string> };
  out: (line: string) => void;
}

export interface DrilledKey {
  label: string;
  keyType: string;
  spkiSha256: string;
  backupTime: string;
  backupSha256: string;
  splitId: string;
  algorithm: string;
}

export interface DrillResult {
  scratchToken: string;
  keys: DrilledKey[];
  /** The newest of the backups restored (ISO time): what "last successful backup" is measured from. */
  newestBackupAt: string;
  destroyed: number;
}

export async function runRestoreDrill(opts: RestoreDrillOptions): Promise<DrillResult> {
  const backups = latestBackups(opts.backupDir);
  // Share files are read (and matched to their backups) before the HSM is opened.
  const sharesFor = opts.kekShares.kind === 'files' ? await filesBySplit(opts.kekShares.files) : undefined;
  const hsm = openCeremonyHsm({ module: opts.scratch.module, token: opts.scratch.token }, opts.scratch.pin);
  const restored: { label: string; id: string }[] = [];
  const keys: DrilledKey[] = [];
  let destroyed = 0;
  let failure: { error: unknown } | undefined;
  try {
    const where = `scratch token "${hsm.token.label}" (serial ${hsm.token.serial})`;
    const present = hsm.store.list();
    const foreign = present.filter((k) => !k.label.startsWith(DRILL_LABEL_PREFIX));
    if (foreign.length) throw new DrillError('not-scratch', `${where} holds ${foreign.length} key(s) that are not a drill's (${foreign.map((k) => JSON.stringify(k.label)).join(', ')}): a scratch token holds nothing else`);
    for (const k of present) {
      destroyKey({ ...target(hsm, opts.scratch.pin), key: { label: k.label, id: k.id }, confirmLabel: k.label });
      opts.out(`destroyed "${k.label}", left on ${where} by an interrupted drill`);
    }

    for (const b of backups) {
      const input: ShareInput = sharesFor ? { kind: 'files', files: sharesFor.get(b.file.kek.splitId) ?? [] } : { kind: 'prompt', ...(opts.kekShares.kind === 'prompt' && opts.kekShares.ask ? { ask: opts.kekShares.ask } : {}) };
      keys.push(await drillOne(b, input, hsm, opts.scratch.pin, where, restored, opts.out));
    }
  } catch (e) {
    failure = { error: e };
  }
  // Destroy what was restored whatever happened, then look again: the drill's copies must be gone.
  const problems: string[] = [];
  try {
    for (const k of restored) {
      try {
        destroyKey({ ...target(hsm, opts.scratch.pin), key: k, confirmLabel: k.label });
        destroyed++;
      } catch (e) {
        problems.push(`${k.label}: ${(e as Error).message}`);
      }
    }
    const left = hsm.store.list().filter((k) => restored.some((r) => r.label === k.label));
    if (left.length) problems.push(`still on the token: ${left.map((k) => k.label).join(', ')}`);
  } finally {
    await hsm.close();
  }
  for (const p of problems) opts.out(`cleanup: ${p}`);
  // A failure before the cleanup is the one to report; the cleanup's problems are printed with it.
  if (failure) throw failure.error;
  if (problems.length) throw new DrillError('leftover', `restored keys could not be destroyed on the scratch token: ${problems.join('; ')}`);
  opts.out(`destroyed ${destroyed} restored key(s); the scratch token holds none of them`);
  const newestBackupAt = new Date(Math.max(...keys.map((k) => Date.parse(k.backupTime)))).toISOString();
  return { scratchToken: opts.scratch.token.label ?? opts.scratch.token.serial ?? '', keys, newestBackupAt, destroyed };
}

type Hsm = ReturnType<typeof openCeremonyHsm>;

/** The scratch token for hsm/'s restore and destroy calls; they reuse this process's login and make no attempt. */
const target = (hsm: Hsm, pin: string) => ({ module: hsm.target.module, token: hsm.target.token, userPin: pin });

async function drillOne(b: BackupFile, input: ShareInput, hsm: Hsm, pin: string, where: string, restored: { label: string; id: string }[], out: (l: string) => void): Promise<DrilledKey> {
  const f = b.file;
  const custody = { threshold: f.kek.threshold, custodians: f.kek.custodians };
  const gathered = await gatherShares(custody, input, `kek-custody of "${f.label}"`);
  let kek: Uint8Array | undefined;
  try {
    const splitId = parseShare(gathered.shares[0]!, 'share').splitId;
    if (splitId !== f.kek.splitId) throw new DrillError('mismatch', `the KEK shares for "${f.label}" are from split ${splitId}, the backup's KEK was split as ${f.kek.splitId}`);
    kek = await combineShares(gathered.shares, f.kek.threshold);
  } finally {
    gathered.shares.fill('');
  }
  out(`"${f.label}": ${gathered.contributors.length} of ${f.kek.custodians.length} KEK custodians gave their shares (${gathered.contributors.join(', ')})`);

  const label = `${DRILL_LABEL_PREFIX}${randomBytes(4).toString('hex')}-${f.label}`;
  let key;
  try {
    // This process is logged in (openCeremonyHsm's one login): restoreKey uses that login and makes no attempt.
    key = restoreKey({ ...target(hsm, pin), key: { label }, wrapped: b.wrapped, kek, keyType: f.keyType, spki: b.spki, mechanism: f.mechanism });
  } finally {
    kek.fill(0);
  }
  restored.push({ label, id: key.id });
  if (!key.spki.equals(b.spki) || key.spkiSha256 !== f.spkiSha256) throw new DrillError('mismatch', `the key restored from "${f.label}" reads back with SPKI sha256 ${key.spkiSha256}, the backup recorded ${f.spkiSha256}`);

  // Once more through the path every real signature takes: PoolSigner → session pool → token, verified in Node.
  const algorithm = defaultAlgorithm(f.keyType);
  const signer = await hsm.signer(label, f.keyType, b.spki, algorithm);
  const challenge = randomBytes(32);
  const signature = await signer.sign(challenge);
  const ok = nodeVerify(algorithm.slice(algorithm.lastIndexOf('-') + 1), challenge, createPublicKey({ key: b.spki, format: 'der', type: 'spki' }), signature);
  if (!ok) throw new DrillError('mismatch', `the key restored from "${f.label}" signed through the session pool, but the signature does not verify against the backup's public key`);
  out(`"${f.label}" (${f.keyType}, backed up ${f.time} on token "${f.token.label}"): restored into ${where} as "${label}", SPKI sha256 ${key.spkiSha256} = the backup's; ${algorithm} signatures in the token and through the pool verify`);
  return { label: f.label, keyType: f.keyType, spkiSha256: f.spkiSha256, backupTime: f.time, backupSha256: b.sha256, splitId: f.kek.splitId, algorithm };
}

/** Share files grouped by the split they belong to (read from each share's header, never its secret part). */
async function filesBySplit(files: ShareFile[]): Promise<Map<string, ShareFile[]>> {
  const bySplit = new Map<string, ShareFile[]>();
  for (const f of files) {
    const splitId = parseShare(await readFile(f.path, 'utf8'), f.custodian ?? f.path).splitId;
    bySplit.set(splitId, [...(bySplit.get(splitId) ?? []), f]);
  }
  return bySplit;
}
