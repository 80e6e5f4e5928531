// The newcomer's walkthrough, literally: docs/ceremonies/rehearse.mjs runs the README's shell blocks in bash (fresh
// workspace, its own SoftHSM2 token directory), so a README command that drifts from the CLI fails here.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DOCS } from './ceremony-support.ts';

let workspace: string | undefined;
let dryRun: string | undefined;

afterAll(() => {
  for (const d of [workspace, dryRun]) if (d && /^\/tmp\/(tmp\.|strongroom-dry-run-)/.test(d)) rmSync(d, { recursive: true, force: true });
});

describe('docs/ceremonies/README.md', () => {
  it('names every YAML file of the folder, and every ceremony it runs is one of them', () => {
    const readme = readFileSync(join(DOCS, 'README.md'), 'utf8');
    const yamls = readdirSync(DOCS).filter((n) => n.endsWith('.yaml'));
    for (const y of yamls) expect(readme).toContain(`\`${y}\``);
    const run = [...readme.matchAll(/ceremony run \$W\/([\w.-]+\.yaml)/g)].map((m) => m[1]);
    expect(new Set(run)).toEqual(new Set(['root-key.yaml', 'root-cert.yaml', 'intermediate-cert.yaml', 'root-crl.yaml', 'key-backup.yaml', 'key-restore.yaml']));
    for (const y of run) expect(yamls).toContain(y);
  });

  it('runs from start to finish: backup restored into the DR token, transcript OK, openssl verifies the chain and the CRL', { timeout: 180_000 }, async () => {
    const child = spawn(process.execPath, [join(DOCS, 'rehearse.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    workspace = /rehearsal complete: workspace (\S+)/.exec(output)?.[1];
    dryRun = /dry run complete: outputs and transcript in (\S+)\/out;/.exec(output)?.[1];
    expect(output.slice(-4000)).toMatch(/rehearsal complete/);
    expect(code).toBe(0);
    expect(output).toMatch(/dry run complete: outputs and transcript in /);
    expect(output).toMatch(/transcript\.jsonl: OK — 6 entries, chain intact, every signature valid, signed by the pinned root key/);
    expect(output).toMatch(/issuing\.pem: OK\n/);
    expect(output).toMatch(/^verify OK$/m);
    expect(output).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0/);
    expect(output).toMatch(/restored "root-ca" into token "strongroom-dr"/);
    // The trace shows the README's commands, not the throwaway PINs.
    expect(output).toMatch(/\$ STRONGROOM_HSM_SO_PIN=\$\(openssl rand -hex 16\)/);
  });
});
