// The openssl CLI as the interoperability judge.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function openssl(args: string[], cwd?: string): { ok: boolean; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
  if (r.error) throw r.error;
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), `${prefix}-`));
}

export function writeIn(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}
