/**
 * `strongroom ceremony run FILE`: one reviewed YAML file, one ceremony, in this order —
 *
 *   1. the config is parsed strictly (refused before anything else, the message names the field);
 *   2. every check that needs no HSM: inputs read and judged, date rules, the transcript verified (and the CRL
 *      number against it), outputs absent, the TBS pre-linted with a placeholder serial and the expected key;
 *      (--dry-run stops here and rehearses the rest in a child process on a throwaway token)
 *   3. dual control: M of N custodians give their shares, the PIN is restored in memory;
 *   4. the HSM is opened with one login attempt (a refused PIN is never retried);
 *   5. the ceremony's HSM part: key checks, serial from the HSM, TBS built, linted, shown, confirmed, signed once,
 *      verified; outputs written exclusively; the transcript entry appended, signed by the ceremony's key.
 *
 * No network port is opened and no database is used.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { HsmError, isSoftHsm, useSoftHsmDataDir } from '../../hsm/index.ts';
import type { CeremonyEnv, CeremonyExtras, CeremonyIo, Prepared } from './ceremony.ts';
import { CeremonyConfigError, parseCeremonyConfig, type CeremonyConfig } from './config.ts';
import { openCeremonyHsm, unlockCeremony, type ShareInput } from './context.ts';
import { prepareCrossCert } from './cross-cert.ts';
import { setupDryRunChild, spawnDryRun } from './dry-run.ts';
import { CeremonyError } from './errors.ts';
import { prepareIntermediateCert } from './intermediate-cert.ts';
import { prepareKeyBackup, prepareKeyRestore } from './key-backup.ts';
import { prepareRootCert } from './root-cert.ts';
import { prepareRootCrl } from './root-crl.ts';
import { prepareRootKey } from './root-key.ts';
import { sha256Hex, verifyTranscript, type TranscriptEntry } from './transcript.ts';

export interface RunOptions {
  configPath: string;
  /** Skip the confirmation prompt (scripted runs, after the plan was reviewed). */
  yes: boolean;
  dryRun: boolean;
  shares: ShareInput;
  io: CeremonyIo;
  /** Internal (--internal-dry-run-child DIR): this process is the dry-run child working in DIR. */
  dryRunChild?: string;
  /**
   * With SoftHSM2 and no SOFTHSM2_CONF, tokens live in <dir>/tokens, as for every other strongroom command
   * (`strongroom hsm init-token` puts them there).
   */
  softHsmDataDir?: string;
  /** key-backup / key-restore only (see CeremonyExtras). */
  extras?: CeremonyExtras;
}

export function prepare(config: CeremonyConfig, env: CeremonyEnv): Promise<Prepared> {
  switch (config.type) {
    case 'root-key':
      return prepareRootKey(config, env);
    case 'root-cert':
      return prepareRootCert(config, env);
    case 'intermediate-cert':
      return prepareIntermediateCert(config, env);
    case 'cross-cert':
      return prepareCrossCert(config, env);
    case 'root-crl':
      return prepareRootCrl(config, env);
    case 'key-backup':
      return prepareKeyBackup(config, env);
    case 'key-restore':
      return prepareKeyRestore(config, env);
  }
}

/** The transcript's verified entries; a transcript that does not verify stops every ceremony. */
async function loadTranscript(path: string): Promise<TranscriptEntry[]> {
  if (!existsSync(dirname(path))) throw new CeremonyError('refused', 'transcript', `folder ${dirname(path)} does not exist`);
  if (!existsSync(path)) return [];
  const r = await verifyTranscript(path);
  if (!r.ok) {
    throw new CeremonyError('transcript', 'transcript', `${path} does not verify; no ceremony appends to a broken record:\n${r.problems.map((p) => `  line ${p.line}: ${p.message}`).join('\n')}`);
  }
  return r.entries;
}

/** Runs one ceremony; returns the exit status (0, or the dry-run child's). Refusals are thrown. */
export async function runCeremony(o: RunOptions): Promise<number> {
  const configPath = resolve(o.configPath);
  let bytes: Buffer;
  try {
    bytes = readFileSync(configPath);
  } catch (e) {
    throw new CeremonyConfigError(`cannot read ceremony file ${configPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let config = parseCeremonyConfig(bytes.toString('utf8'));
  const baseDir = dirname(configPath);
  if (o.dryRun && (config.type === 'key-backup' || config.type === 'key-restore')) {
    throw new CeremonyError('refused', 'type', `--dry-run is not available for ${config.type} ceremonies (they need the token's security officer and a second token)`);
  }
  let dryRunPin: string | undefined;
  if (o.dryRunChild) {
    const setup = await setupDryRunChild(config, baseDir, o.dryRunChild, o.io);
    config = setup.config;
    dryRunPin = setup.pin;
  }
  const transcriptPath = resolve(baseDir, config.transcript);
  const env: CeremonyEnv = {
    configPath,
    baseDir,
    configSha256: sha256Hex(bytes),
    operators: config.operators,
    custody: config.custody,
    transcriptPath,
    entries: await loadTranscript(transcriptPath),
    io: o.io,
    yes: o.yes,
    dryRun: o.dryRunChild !== undefined,
    extras: o.extras ?? {},
  };
  const prepared = await prepare(config, env);
  try {
    o.io.out(`ceremony ${configPath} (sha256 ${env.configSha256})`);
    o.io.out(prepared.summary);
    o.io.out(`operators: ${config.operators.join(', ')}; custodians: ${config.custody.threshold} of ${config.custody.custodians.join(', ')}`);
    o.io.out('checks before the HSM: passed');

    if (o.dryRun) return await spawnDryRun(configPath, o.io);

    let pin: string;
    let present: number;
    if (dryRunPin !== undefined) {
      // The throwaway token's PIN was never split: no custodian is asked in a rehearsal.
      pin = dryRunPin;
      present = config.custody.threshold;
    } else {
      const unlocked = await unlockCeremony(config.custody, o.shares);
      o.io.out(`dual control: ${unlocked.contributors.length} of ${config.custody.custodians.length} custodians gave their shares (threshold ${config.custody.threshold}); PIN restored in memory`);
      pin = unlocked.pin;
      present = unlocked.contributors.length;
    }

    if (o.softHsmDataDir !== undefined && dryRunPin === undefined && isSoftHsm(config.hsm.module)) useSoftHsmDataDir(o.softHsmDataDir);
    const target = { module: config.hsm.module, token: config.hsm.token.label !== undefined ? { label: config.hsm.token.label } : { serial: config.hsm.token.serial! } };
    let hsm;
    try {
      hsm = openCeremonyHsm(target, pin);
    } catch (e) {
      if (e instanceof HsmError && e.kind === 'auth') {
        throw new HsmError('auth', `hsm.token: the token refused the PIN restored from the shares (${e.message}); not retried — the token's retry counter matters. Check the shares belong to this token`, e.ckr);
      }
      throw e;
    }
    try {
      await prepared.execute(hsm, { present, pin, reopen: () => openCeremonyHsm(target, pin) });
    } finally {
      await hsm.close();
    }
  } finally {
    prepared.dispose?.();
  }
  return 0;
}
