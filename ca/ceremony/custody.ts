/**
 * Dual control of the ceremony token's PIN: the PIN is split M-of-N among custodians at setup (splitPin), and a
 * ceremony unlocks only when M of them have each typed their share (collectShares, then unlockPin). The PIN exists
 * only in this process's memory, for as long as the login takes.
 *
 * Nothing here logs or writes a share or the PIN: share texts are returned to the caller (splitPin, for printing
 * onto each custodian's paper) or read from the custodians (collectShares), and every error names a share by its
 * position or custodian, never by its content.
 */
import { readFile, stat } from 'node:fs/promises';
import { promptHidden } from '../../hsm/pin-source.ts';
import { combineShares, CustodyError, ShareSet, splitSecret, type SplitOptions } from './shares.ts';

export { combineShares, CustodyError, formatShare, parseShare, ShareSet, splitSecret, SHARE_PREFIX, type CustodyErrorKind, type ParsedShare, type SplitOptions } from './shares.ts';

/** Splits the token PIN among `custodians` (element i of the result is custodians[i]'s share). */
export async function splitPin(pin: string, threshold: number, shares: number, custodians: string[], options: SplitOptions = {}): Promise<string[]> {
  if (pin.length === 0) throw new CustodyError('bad-request', 'the PIN is empty');
  const bytes = new Uint8Array(Buffer.from(pin, 'utf8'));
  try {
    return await splitSecret(bytes, threshold, shares, custodians, options);
  } finally {
    bytes.fill(0);
  }
}

/** Restores the PIN from at least `threshold` shares (see combineShares for the checks). */
export async function unlockPin(shares: string[], threshold: number): Promise<string> {
  const bytes = await combineShares(shares, threshold);
  try {
    const pin = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (pin.length === 0) throw new Error('empty');
    return pin;
  } catch {
    throw new CustodyError('integrity', 'the restored secret is not a PIN (these shares split something else)');
  } finally {
    bytes.fill(0);
  }
}

export type ShareSource =
  | {
      kind: 'prompt';
      /** Asks one question without echo; default promptHidden (refuses when stdin is not a terminal). */
      ask?: (question: string) => Promise<string>;
      /** Tells the room what went wrong with an entry; default a line on stderr. Never given share content. */
      notify?: (message: string) => void;
      /** Tries per custodian before moving on to the next one. Default 3. */
      attempts?: number;
    }
  | {
      /**
       * Scripted runs and tests only: files[i] holds custodians[i]'s share. A real ceremony must not use files: a
       * share written to disk can be copied by whoever reaches the disk, and then one person (or a backup tape)
       * holds what M people were supposed to hold — dual control is gone, silently and for good.
       */
      kind: 'files';
      files: string[];
    };

export interface CollectOptions {
  threshold: number;
  /** The custodians present, asked in this order. */
  custodians: string[];
  source: ShareSource;
}

export interface CollectedShares {
  /** Exactly `threshold` shares, each already checked (format, checksum, one split, distinct, threshold). */
  shares: string[];
  /** Who gave them, in order: for the transcript's custodian count. */
  contributors: string[];
}

const MAX_SHARE_FILE = 4096;

/**
 * Collects shares until `threshold` valid ones are in. Prompting: each custodian in turn is asked "Custodian NAME,
 * enter your share:" with no echo; an empty answer skips them, a rejected share is explained and asked again (up
 * to `attempts` times). Files: one share per file, every problem fatal.
 */
export async function collectShares(options: CollectOptions): Promise<CollectedShares> {
  const { threshold, custodians, source } = options;
  if (!Number.isInteger(threshold) || threshold < 2) throw new CustodyError('bad-request', 'the threshold must be an integer of at least 2');
  if (new Set(custodians).size !== custodians.length) throw new CustodyError('bad-request', 'custodian names must be distinct');
  const set = new ShareSet(threshold);
  const shares: string[] = [];
  const contributors: string[] = [];

  if (source.kind === 'files') {
    if (source.files.length !== custodians.length) throw new CustodyError('bad-request', `${custodians.length} custodians but ${source.files.length} share files`);
    for (let i = 0; i < custodians.length && !set.complete; i++) {
      const name = `custodian ${custodians[i]!}'s share`;
      const text = await readShareFile(source.files[i]!, name);
      set.add(text, name);
      shares.push(text.replace(/\s+/g, ''));
      contributors.push(custodians[i]!);
    }
  } else {
    const ask = source.ask ?? promptHidden;
    const notify = source.notify ?? ((m: string) => process.stderr.write(`${m}\n`));
    const attempts = source.attempts ?? 3;
    if (!source.ask && !process.stdin.isTTY) throw new CustodyError('source', 'no terminal to ask the custodians on: shares are typed, without echo, at the ceremony terminal');
    for (const custodian of custodians) {
      if (set.complete) break;
      const name = `custodian ${custodian}'s share`;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        const text = (await ask(`Custodian ${custodian}, enter your share: `)).replace(/\s+/g, '');
        if (text.length === 0) {
          notify(`custodian ${custodian} skipped`);
          break;
        }
        try {
          set.add(text, name);
          shares.push(text);
          contributors.push(custodian);
          notify(`custodian ${custodian}: share accepted (${set.size} of ${threshold})`);
          break;
        } catch (e) {
          if (!(e instanceof CustodyError)) throw e;
          notify(`${e.message}${attempt < attempts ? '; try again' : `; giving up on custodian ${custodian} after ${attempts} tries`}`);
        }
      }
    }
  }
  if (!set.complete) throw new CustodyError('too-few', `fewer than ${threshold} shares: ${set.size} valid of ${threshold} needed`);
  return { shares, contributors };
}

async function readShareFile(path: string, name: string): Promise<string> {
  let mode: number;
  let size: number;
  try {
    ({ mode, size } = await stat(path));
  } catch {
    throw new CustodyError('source', `${name}: file ${path} cannot be read`);
  }
  if (mode & 0o004) throw new CustodyError('source', `${name}: file ${path} is world-readable; chmod 600 it`);
  if (size > MAX_SHARE_FILE) throw new CustodyError('source', `${name}: file ${path} is too large to be a share`);
  return readFile(path, 'utf8');
}
