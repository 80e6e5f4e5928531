#!/usr/bin/env node
// Runs this folder's README walkthrough unattended: every ```sh block of README.md, in order, in one bash, with
// `--yes` added to each `ceremony run` (the plans are still printed) and `npx strongroom` run straight from this
// checkout. A rehearsal on SoftHSM2 only — it uses share files, which a real ceremony must not.
//
//   node docs/ceremonies/rehearse.mjs
//
// Exit status: bash's (0 when every step, including the final openssl checks, succeeded).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const checkout = resolve(here, '..', '..');
const readme = readFileSync(join(here, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
if (blocks.length === 0) {
  console.error('rehearse: no sh blocks in README.md');
  process.exit(2);
}
const launcher = JSON.stringify(join(checkout, 'ca', 'cli', 'strongroom.mjs'));
const quote = (text) => `'${text.replaceAll("'", `'\\''`)}'`;
// Each block is shown as the README writes it (not traced: the trace would print the throwaway PINs), then run.
const script = blocks
  .map((block) => {
    const runnable = block.replaceAll('npx strongroom', `node ${launcher}`).replace(/(ceremony run \$W\/[\w.-]+\.yaml)/g, '$1 --yes');
    return `printf '\\n%s\\n' ${quote(block.trimEnd().replace(/^/gm, '$ '))}\n${runnable}`;
  })
  .join('\n');

const env = { ...process.env };
// The README keeps its SoftHSM2 tokens in $W/var (STRONGROOM_DATA_DIR): an inherited SOFTHSM2_CONF would send them
// elsewhere, and a token setting from the environment would override the README's.
for (const k of Object.keys(env)) if (k === 'SOFTHSM2_CONF' || k.startsWith('STRONGROOM_HSM_')) delete env[k];

const r = spawnSync('bash', ['-euo', 'pipefail', '-c', `${script}\necho "rehearsal complete: workspace $W"`], { cwd: checkout, env, stdio: 'inherit' });
process.exit(r.status ?? 1);
