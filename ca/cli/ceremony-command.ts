/** `strongroom ceremony …`: offline root ceremonies, their transcript, and splitting a token PIN among custodians. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exitCodeFor, EXIT, UsageError } from './cli-error.ts';
import { dataDirOf } from './hsm-options.ts';
import { CeremonyConfigError } from '../ceremony/config.ts';
import { CustodyError, splitPin, unlockPin } from '../ceremony/custody.ts';
import { DRY_RUN_CHILD_FLAG } from '../ceremony/dry-run.ts';
import { CeremonyError } from '../ceremony/errors.ts';
import { OutputExistsError } from '../ceremony/outputs.ts';
import { terminalConfirm } from '../ceremony/plan.ts';
import { runCeremony } from '../ceremony/run.ts';
import { checkShareDir, showSharesOnTerminal, terminalAvailable, writeShareFiles } from '../ceremony/share-display.ts';
import type { ShareFile } from '../ceremony/context.ts';
import { TranscriptError, trustedSpkiFrom, verifyTranscript } from '../ceremony/transcript.ts';
import { parsePinSource, readPin, type PinSource } from '../../hsm/index.ts';
import { X509Error } from '../x509/index.ts';

export const CEREMONY_USAGE = `strongroom ceremony <command> [options]
  run FILE.yaml [--yes] [--dry-run] [--share-file [NAME=]PATH]... [--data-dir DIR]
        one ceremony from one reviewed YAML file (root-key, root-cert, intermediate-cert, root-crl, cross-cert,
        key-backup, key-restore).
        Custodians type their shares without echo; --share-file reads them from files instead — for rehearsals
        and tests only, never for a real ceremony (a share on disk is a share anyone with the disk holds).
        --yes signs without asking after showing the plan; --dry-run rehearses on a throwaway SoftHSM2 token.
        key-backup: [--so-pin-source SRC] (the token's security officer) [--kek-share-dir DIR] (KEK shares as
        files instead of on the terminal — rehearsals only). key-restore: [--kek-share-file [NAME=]PATH]...
  verify-transcript FILE [--root ROOT.pem] [--head SHA256]
        checks the transcript's chain and every signature; --root pins the signer to the root's key,
        --head checks that a line hash recorded on paper is still there.
  split-pin --threshold M --custodians NAME,NAME,... [--label LABEL] [--pin-source SRC] [--out-dir DIR]
        splits a token PIN M-of-N. Without --out-dir each custodian sees their share alone on the terminal;
        --out-dir writes one 0600 file per custodian, for scripted and dev use only.
Exit codes: 0 ok, 1 failure (or the operators cancelled), 2 refused (config, inputs, outputs, HSM key mismatch),
3 not unlocked (fewer than M valid shares, or the token refused the PIN), 4 HSM unavailable.`;

type Out = (line: string) => void;

export async function ceremonyCommand(argv: string[], out: Out, err: Out = out): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'run':
        return await run(rest, out, err);
      case 'verify-transcript':
        return await verify(rest, out);
      case 'split-pin':
        return await split(rest, out, err);
      case undefined:
      case 'help':
      case '--help':
        out(CEREMONY_USAGE);
        return sub === undefined ? EXIT.usage : EXIT.ok;
      default:
        throw new UsageError(`unknown ceremony command "${sub}"\n${CEREMONY_USAGE}`);
    }
  } catch (e) {
    const code = ceremonyExitCode(e);
    if (code === undefined) throw e;
    err(`strongroom: ${e instanceof Error ? e.message : String(e)}`);
    if (code === EXIT.failure && process.env.STRONGROOM_DEBUG) err((e as Error).stack ?? '');
    return code;
  }
}

/** Exit codes for the ceremony's own errors; undefined leaves the rest to the CLI's general mapping. */
export function ceremonyExitCode(e: unknown): number | undefined {
  if (e instanceof CeremonyConfigError || e instanceof OutputExistsError) return EXIT.usage;
  if (e instanceof CeremonyError) return e.kind === 'cancelled' || e.kind === 'transcript' ? EXIT.failure : EXIT.usage;
  if (e instanceof CustodyError) return e.kind === 'bad-request' || e.kind === 'source' ? EXIT.usage : EXIT.credentials;
  if (e instanceof TranscriptError) return EXIT.failure;
  if (e instanceof X509Error) return e.kind === 'signature-check' ? EXIT.failure : EXIT.usage;
  if (e instanceof UsageError) return undefined;
  const code = exitCodeFor(e);
  return code === EXIT.failure ? undefined : code;
}

function parse<T extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function shareFile(text: string): ShareFile {
  const m = /^([^=/]+)=(.+)$/.exec(text);
  return m ? { custodian: m[1]!, path: resolve(m[2]!) } : { path: resolve(text) };
}

async function run(argv: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parse(argv, {
    yes: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    'share-file': { type: 'string', multiple: true },
    'data-dir': { type: 'string' },
    'so-pin-source': { type: 'string' },
    'kek-share-dir': { type: 'string' },
    'kek-share-file': { type: 'string', multiple: true },
    [DRY_RUN_CHILD_FLAG.slice(2)]: { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError(`ceremony run takes one ceremony file\n${CEREMONY_USAGE}`);
  const child = values[DRY_RUN_CHILD_FLAG.slice(2)] as string | undefined;
  const files = ((values['share-file'] as string[] | undefined) ?? []).map(shareFile);
  const kekFiles = ((values['kek-share-file'] as string[] | undefined) ?? []).map(shareFile);
  if (values['dry-run'] && child !== undefined) throw new UsageError('--dry-run and its internal child flag do not combine');
  // Refuse now rather than after the custodians have typed their shares.
  if (!values.yes && !values['dry-run'] && child === undefined && !process.stdin.isTTY) {
    throw new UsageError('no terminal to confirm the plan on: review the plan (--dry-run shows it) and pass --yes for a scripted run');
  }
  if (values['dry-run'] && files.length) err('strongroom: --dry-run ignores --share-file: the throwaway token needs no shares');
  return runCeremony({
    configPath: positionals[0]!,
    yes: values.yes === true,
    dryRun: values['dry-run'] === true,
    shares: files.length ? { kind: 'files', files } : { kind: 'prompt' },
    io: { out, err, confirm: terminalConfirm },
    softHsmDataDir: dataDirOf(values as { 'data-dir'?: string }),
    extras: {
      soPin: () => readPin(soPinSource(values['so-pin-source'] as string | undefined)),
      ...(values['kek-share-dir'] !== undefined ? { kekShareDir: values['kek-share-dir'] as string } : {}),
      kekShares: kekFiles.length ? { kind: 'files', files: kekFiles } : { kind: 'prompt' },
    },
    ...(child !== undefined ? { dryRunChild: child } : {}),
  });
}

/** The security officer's PIN for key-backup: --so-pin-source, else STRONGROOM_HSM_SO_PIN, else a no-echo prompt. */
function soPinSource(flag: string | undefined): PinSource {
  if (flag !== undefined) return parsePinSource(flag);
  return process.env.STRONGROOM_HSM_SO_PIN !== undefined ? { env: 'STRONGROOM_HSM_SO_PIN' } : { prompt: 'Security officer PIN: ' };
}

async function verify(argv: string[], out: Out): Promise<number> {
  const { values, positionals } = parse(argv, { root: { type: 'string' }, head: { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError(`verify-transcript takes one transcript file\n${CEREMONY_USAGE}`);
  const path = resolve(positionals[0]!);
  let pins: Uint8Array[] | undefined;
  if (values.root !== undefined) {
    try {
      pins = [trustedSpkiFrom(readFileSync(values.root as string, 'utf8'))];
    } catch (e) {
      throw new UsageError(`--root ${values.root as string}: not a readable certificate or public key (${(e as Error).message})`);
    }
  }
  const head = values.head as string | undefined;
  if (head !== undefined && !/^[0-9a-f]{64}$/.test(head)) throw new UsageError('--head takes the 64 hex digits of a line hash');
  const r = await verifyTranscript(path, { ...(pins ? { trustedSpkis: pins } : {}), ...(head ? { expectedHead: head } : {}) });
  for (const e of r.entries) {
    out(`seq ${e.seq}  ${e.time}  ${e.type.padEnd(17)} signer ${e.signer.spkiSha256.slice(0, 16)}…  ${e.outputs.map((o) => o.path).join(', ') || '-'}`);
  }
  for (const p of r.problems) out(`PROBLEM line ${p.line}${p.seq !== null ? ` (seq ${p.seq})` : ''} [${p.kind}]: ${p.message}`);
  if (!r.ok) {
    out(`${path}: does NOT verify (${r.problems.length} problem${r.problems.length === 1 ? '' : 's'})`);
    return EXIT.failure;
  }
  out(`${path}: OK — ${r.entries.length} entr${r.entries.length === 1 ? 'y' : 'ies'}, chain intact, every signature valid${r.pinned ? ', signed by the pinned root key' : ' (signers not pinned: pass --root root.pem)'}`);
  if (r.head) out(`head: seq ${r.head.seq}, line hash ${r.head.hash} (compare with the one recorded on paper)`);
  return EXIT.ok;
}

async function split(argv: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parse(argv, {
    threshold: { type: 'string' },
    custodians: { type: 'string' },
    label: { type: 'string' },
    'pin-source': { type: 'string' },
    'out-dir': { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`split-pin takes no positional arguments\n${CEREMONY_USAGE}`);
  const threshold = Number(values.threshold);
  if (!values.threshold || !Number.isInteger(threshold) || threshold < 2) throw new UsageError('--threshold M: an integer of at least 2 (dual control)');
  const custodians = ((values.custodians as string | undefined) ?? '').split(',').map((c) => c.trim()).filter(Boolean);
  if (custodians.length < threshold) throw new UsageError(`--custodians: ${custodians.length} named, the threshold is ${threshold}`);
  const outDir = values['out-dir'] as string | undefined;
  if (outDir !== undefined) {
    try {
      checkShareDir(outDir, custodians, '.share', '--out-dir');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  } else if (!terminalAvailable()) {
    throw new UsageError('split-pin shows each share on the terminal, one custodian at a time: run it on a terminal (or, for scripted and dev use only, pass --out-dir)');
  }

  const pinText = (values['pin-source'] as string | undefined) ?? process.env.STRONGROOM_HSM_PIN_SOURCE;
  const source: PinSource = pinText ? parsePinSource(pinText) : process.env.STRONGROOM_HSM_PIN !== undefined ? { env: 'STRONGROOM_HSM_PIN' } : { prompt: 'Token PIN to split: ' };
  const pin = await readPin(source);
  const label = (values.label as string | undefined) ?? process.env.STRONGROOM_HSM_TOKEN ?? 'strongroom';
  const shares = await splitPin(pin, threshold, custodians.length, custodians, { label });
  // Prove the split before anyone walks away with a share: the first M shares restore the PIN.
  if ((await unlockPin(shares.slice(0, threshold), threshold)) !== pin) throw new CustodyError('integrity', 'the split does not restore the PIN; nothing was handed out');

  if (outDir !== undefined) {
    writeShareFiles(outDir, custodians, shares, '.share').forEach((path, i) => out(`custodian ${custodians[i]!}: share ${i + 1} of ${custodians.length} written to ${path} (mode 0600)`));
    err('strongroom: share files are for rehearsals, tests and dev tokens only: a real ceremony types each share from paper, without echo');
    out(`split ${threshold}-of-${custodians.length} for "${label}"`);
    return EXIT.ok;
  }
  await showSharesOnTerminal(custodians, shares, `PIN of "${label}", ${threshold} of ${custodians.length} needed`);
  out(`split ${threshold}-of-${custodians.length} for "${label}": ${custodians.length} shares handed out, none stored`);
  return EXIT.ok;
}
