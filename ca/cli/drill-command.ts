/** `strongroom drill restore`: the scheduled proof that the latest key backups restore (ca/drill/, docs/drills.md). */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isSoftHsm, parsePinSource, readPin, SOFTHSM_MODULE, useSoftHsmDataDir } from '../../hsm/index.ts';
import { AuditLog } from '../audit/index.ts';
import type { ShareFile } from '../ceremony/context.ts';
import { CustodyError } from '../ceremony/custody.ts';
import { databaseUrlFromEnv, openDatabase } from '../db/connect.ts';
import { DrillError } from '../drill/drill-error.ts';
import { recordDrill } from '../drill/record-drill.ts';
import { runRestoreDrill } from '../drill/restore-drill.ts';
import { EXIT, exitCodeFor, messageFor, UsageError } from './cli-error.ts';
import { dataDirOf } from './hsm-options.ts';

export const DRILL_USAGE = `strongroom drill restore --backup-dir DIR --scratch-token LABEL --scratch-pin-source file:PATH|env:NAME|prompt
        [--module PATH] [--kek-share-file NAME=PATH]... [--actor NAME] [--data-dir DIR]
  Restores the newest key backup of every key in DIR (the key-backup ceremony's *.wrapped.json) into the scratch
  token with M of N KEK shares (each custodian prompted without echo; --kek-share-file for rehearsals only), checks
  each restored public key against the backup's recorded SPKI, signs and verifies with it, destroys the scratch
  copies, and records the result in the audit log (drill.restore), which the CA's metrics read.
  The scratch token must hold no key but a drill's. Database: DATABASE_URL, else the data directory's.
Exit codes: 0 drill passed, 1 drill failed, 2 usage / not a scratch token / no backups, 3 KEK shares or PIN
refused, 4 HSM unavailable. Every drill that gets as far as the database is recorded, passed or failed.`;

type Out = (line: string) => void;

/** Drill failures as exit codes; HSM and usage errors as for every command (cli-error.ts). */
function drillExitCode(e: unknown): number {
  if (e instanceof DrillError) return e.kind === 'not-scratch' || e.kind === 'no-backup' ? EXIT.usage : EXIT.failure;
  if (e instanceof CustodyError) return e.kind === 'bad-request' ? EXIT.usage : EXIT.credentials;
  return exitCodeFor(e);
}

export async function drillCommand(argv: string[], out: Out, err: Out = out): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === 'help' || sub === '--help') {
    out(DRILL_USAGE);
    return sub ? EXIT.ok : EXIT.usage;
  }
  if (sub !== 'restore') throw new UsageError(`unknown drill "${sub}"\n${DRILL_USAGE}`);
  let values: { 'backup-dir'?: string; 'scratch-token'?: string; 'scratch-pin-source'?: string; module?: string; 'kek-share-file'?: string[]; actor?: string; 'data-dir'?: string };
  try {
    values = parseArgs({
      args: rest,
      options: {
        'backup-dir': { type: 'string' },
        'scratch-token': { type: 'string' },
        'scratch-pin-source': { type: 'string' },
        module: { type: 'string' },
        'kek-share-file': { type: 'string', multiple: true },
        actor: { type: 'string' },
        'data-dir': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // No defaults from STRONGROOM_HSM_*: those name the online token, which a drill must never restore into.
  for (const f of ['backup-dir', 'scratch-token', 'scratch-pin-source'] as const) if (!values[f]) throw new UsageError(`--${f} is required\n${DRILL_USAGE}`);
  const pinSource = parsePinSource(values['scratch-pin-source']!);
  const module = values.module ?? SOFTHSM_MODULE;
  const dataDir = dataDirOf(values);
  if (isSoftHsm(module)) useSoftHsmDataDir(dataDir);
  const files: ShareFile[] = (values['kek-share-file'] ?? []).map((text) => {
    const m = /^([^=/]+)=(.+)$/.exec(text);
    if (!m) throw new UsageError(`--kek-share-file ${JSON.stringify(text)}: give it as NAME=PATH`);
    return { custodian: m[1]!, path: resolve(m[2]!) };
  });
  const actor = values.actor ?? 'strongroom-drill';
  const scratchToken = values['scratch-token']!;

  const url = databaseUrlFromEnv();
  const db = await openDatabase({ ...(url ? { url } : {}), dataDir });
  const startedAt = new Date();
  try {
    const audit = new AuditLog(db);
    try {
      const pin = await readPin(pinSource);
      const result = await runRestoreDrill({
        backupDir: values['backup-dir']!,
        scratch: { module, token: { label: scratchToken }, pin },
        kekShares: files.length ? { kind: 'files', files } : { kind: 'prompt' },
        out,
      });
      await recordDrill(audit, actor, startedAt, new Date(), { ok: result });
      out(`drill passed: ${result.keys.length} key(s) restored, verified and destroyed; newest backup ${result.newestBackupAt}; recorded as drill.restore`);
      return EXIT.ok;
    } catch (e) {
      await recordDrill(audit, actor, startedAt, new Date(), { failed: e, scratchToken });
      err(`strongroom: drill failed (recorded as drill.restore): ${messageFor(e)}`);
      return drillExitCode(e);
    }
  } finally {
    await db.destroy();
  }
}
