// Shared by the ceremony suites: the CLI in process, workspaces built from the docs' YAML files, share files, and
// a look at what the token holds.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../ca/cli/main.ts';
import { splitPin } from '../../ca/ceremony/custody.ts';
import { Pkcs11KeyStore } from '../../hsm/key-store.ts';
import { SOFTHSM_MODULE } from '../../hsm/soft-token.ts';

export const DOCS = fileURLToPath(new URL('../../docs/ceremonies/', import.meta.url));
export const CUSTODIANS = ['alice', 'bob', 'carol'] as const;
/** Inside every validity window of the docs' files, whatever today is (for openssl verify -attime). */
export const AT_TIME = String(Date.parse('2027-01-01T00:00:00Z') / 1000);

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export async function cli(argv: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main(argv, (l) => out.push(l), (l) => err.push(l));
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

export function workspace(prefix: string): string {
  return mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), `${prefix}-`));
}

/** A docs YAML file with the token labels replaced (the per-run token directory is shared by suites). */
export function docYaml(name: string, rootLabel: string, drLabel = 'strongroom-dr'): string {
  return readFileSync(join(DOCS, name), 'utf8').replaceAll('label: strongroom-root', `label: ${rootLabel}`).replaceAll('label: strongroom-dr', `label: ${drLabel}`);
}

export function write(dir: string, name: string, text: string, mode = 0o644): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode });
  return path;
}

/** Splits `pin` 2-of-3 for alice, bob, carol and writes <name>.share files (mode 0600). */
export async function writeShares(dir: string, pin: string, label: string): Promise<Record<string, string>> {
  const shares = await splitPin(pin, 2, 3, [...CUSTODIANS], { label });
  return Object.fromEntries(CUSTODIANS.map((c, i) => [c, write(dir, `${c}.share`, `${shares[i]!}\n`, 0o600)]));
}

export function shareArgs(files: Record<string, string>, who: string[] = ['alice', 'bob']): string[] {
  return who.flatMap((c) => ['--share-file', `${c}=${files[c]!}`]);
}

/** Private keys on the token, counted through a session of their own (closed again: the token is logged out). */
export function keyCount(label: string, pin: string, module = SOFTHSM_MODULE): number {
  const store = Pkcs11KeyStore.open({ module, token: { label }, pin });
  try {
    return store.list().length;
  } finally {
    store.close();
  }
}

export function sha256File(path: string): string | undefined {
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : undefined;
}

/** The folder a --dry-run wrote to, from its last line. */
export function dryRunOut(result: CliResult): string {
  const m = /dry run complete: outputs and transcript in (\S+);/.exec(result.out);
  if (!m) throw new Error(`no dry-run folder in:\n${result.out}\n${result.err}`);
  return m[1]!;
}
