/**
 * Handing shares to their custodians: on the terminal, one custodian at a time (Enter to show, Enter once it is on
 * paper, the screen and its scrollback cleared in between) — or, for rehearsals, tests and dev tokens only, one
 * file per custodian (mode 0600, created exclusively). The share texts are never logged.
 */
import { closeSync, existsSync, fsyncSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { refused } from './errors.ts';

export type ShowShares = (custodians: string[], shares: string[], title: string) => Promise<void>;

const FILE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export function shareFilePath(dir: string, custodian: string, suffix: string): string {
  return join(dir, `${custodian}${suffix}`);
}

/** Checks, before anything is split, that one new file per custodian can be created in `dir`. */
export function checkShareDir(dir: string, custodians: string[], suffix: string, field: string): void {
  const bad = custodians.filter((c) => !FILE_NAME.test(c));
  if (bad.length) throw refused(field, `${bad.join(', ')} cannot name a share file (letters, digits, . _ -)`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw refused(field, `${dir} is not a folder`);
  const existing = custodians.map((c) => shareFilePath(dir, c, suffix)).filter((p) => existsSync(p));
  if (existing.length) throw refused(field, `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; shares are never overwritten`);
}

/** Writes shares[i] to <dir>/<custodians[i]><suffix>, mode 0600, exclusively; returns the paths. */
export function writeShareFiles(dir: string, custodians: string[], shares: string[], suffix: string): string[] {
  return custodians.map((c, i) => {
    const path = shareFilePath(dir, c, suffix);
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, `${shares[i]!}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return path;
  });
}

export function terminalAvailable(): boolean {
  return process.stdout.isTTY === true && process.stdin.isTTY === true;
}

/** Each custodian alone at the terminal; the shares array is blanked as they are handed out. */
export const showSharesOnTerminal: ShowShares = async (custodians, shares, title) => {
  const tty = process.stdout;
  const clear = () => tty.write('\x1b[2J\x1b[3J\x1b[H');
  const rl = createInterface({ input: process.stdin, output: tty, terminal: true });
  const enter = (q: string) => new Promise<void>((done) => rl.question(q, () => done()));
  try {
    for (const [i, c] of custodians.entries()) {
      clear();
      await enter(`${title}: share ${i + 1} of ${custodians.length}.\nCustodian ${c}: when you alone can see the screen, press Enter.`);
      clear();
      tty.write(`Custodian ${c}, your share:\n\n  ${shares[i]!.match(/.{1,60}/g)!.join('\n  ')}\n\nCopy it onto your paper, check it, then press Enter to clear the screen.`);
      await enter('');
      shares[i] = '';
    }
  } finally {
    clear();
    rl.close();
  }
};
