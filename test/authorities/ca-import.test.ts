// strongroom ca import / list / activate: the handoff from a ceremony to the online CA, and issuer rollover.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../ca/cli/main.ts';
import { issueCertificate, toPem } from '../../ca/x509/index.ts';
import { Pkcs11KeyStore } from '../../hsm/index.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { SoftwareSigner } from '../support/software-signer.ts';
import { createTestToken, type TestToken } from '../support/token.ts';
import { intermediateLint, intermediateSpec, rootLint, rootSpec } from '../x509/fixtures.ts';

async function cli(argv: string[], env: Record<string, string | undefined>) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main(argv, (l) => out.push(l), (l) => err.push(l));
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

describe('strongroom ca import', () => {
  let token: TestToken;
  let db: TestDatabase;
  let dir: string;
  let env: Record<string, string | undefined>;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    token = createTestToken('ca-import');
    const ks = Pkcs11KeyStore.open({ module: token.module, token: { label: token.label }, pin: token.pin });
    const issuing = ks.generate({ type: 'ec-p256', label: 'issuing-2026' });
    const next = ks.generate({ type: 'ec-p256', label: 'issuing-2027' });
    ks.generate({ type: 'ec-p256', label: 'unrelated' });
    ks.close();
    dir = mkdtempSync(join(tmpdir(), 'strongroom-ca-import-'));
    const root = SoftwareSigner.generate('ec-p384');
    const rootCert = await issueCertificate(await rootSpec(root), root, rootLint);
    const otherRoot = SoftwareSigner.generate('ec-p384');
    const otherRootCert = await issueCertificate(await rootSpec(otherRoot, 'Another Root'), otherRoot, rootLint);
    const intermediate = await issueCertificate(await intermediateSpec(rootCert.der, root, issuing.spki), root, intermediateLint(rootCert.der));
    const intermediate2 = await issueCertificate(await intermediateSpec(rootCert.der, root, next.spki, 'Issuing CA 2027'), root, intermediateLint(rootCert.der));
    const write = (name: string, text: string) => {
      files[name] = join(dir, name);
      writeFileSync(files[name]!, text);
    };
    write('root.pem', toPem(rootCert.der, 'CERTIFICATE'));
    write('other-root.pem', toPem(otherRootCert.der, 'CERTIFICATE'));
    write('issuing.pem', toPem(intermediate.der, 'CERTIFICATE'));
    write('issuing-2027.pem', toPem(intermediate2.der, 'CERTIFICATE'));
    db = await freshDatabase();
    if (db.dataDir) await db.knex.destroy(); // embedded PGlite: one process at a time, the CLI opens it
    env = { DATABASE_URL: db.url, STRONGROOM_DATA_DIR: db.dataDir ?? dir, STRONGROOM_HSM_PIN: token.pin, STRONGROOM_HSM_PIN_SOURCE: undefined, STRONGROOM_HSM_TOKEN: token.label };
  });
  afterAll(async () => {
    await db.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const key = (label: string) => `pkcs11:token=${token.label};object=${label}`;

  it.each([
    ['the HSM key is another key', () => ['--certificate', files['issuing.pem']!, '--chain', files['root.pem']!, '--key', key('unrelated')], /is not the certificate's key/],
    ['no such key on the HSM', () => ['--certificate', files['issuing.pem']!, '--chain', files['root.pem']!, '--key', key('missing')], /has no usable key/],
    ['chain of another root', () => ['--certificate', files['issuing.pem']!, '--chain', files['other-root.pem']!, '--key', key('issuing-2026')], /not the issuer of the one before it/],
    ['the certificate is the root, not the one for the HSM key', () => ['--certificate', files['root.pem']!, '--chain', files['root.pem']!, '--key', key('issuing-2026')], /is not the certificate's key/],
    ['missing --chain', () => ['--certificate', files['issuing.pem']!, '--key', key('issuing-2026')], /import needs --certificate, --chain and --key/],
  ])('refuses when %s (exit 2), storing nothing', async (_name, args, message) => {
    const r = await cli(['ca', 'import', ...args()], env);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
    const list = await cli(['ca', 'list', '--json'], env);
    expect(JSON.parse(list.out)).toEqual([]);
  });

  it('imports the issuing CA after checking chain and HSM key, then rolls over to a new issuer', async () => {
    const first = await cli(['ca', 'import', '--certificate', files['issuing.pem']!, '--chain', files['root.pem']!, '--key', key('issuing-2026')], env);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/imported "issuing-2026" \(.*CN=Strongroom Test Issuing CA.*\), active/);

    const dup = await cli(['ca', 'import', '--certificate', files['issuing.pem']!, '--chain', files['root.pem']!, '--key', key('issuing-2026')], env);
    expect(dup.code).toBe(2);
    expect(dup.err).toMatch(/exists already/);

    const second = await cli(['ca', 'import', '--certificate', files['issuing-2027.pem']!, '--chain', files['root.pem']!, '--key', key('issuing-2027')], env);
    expect(second.code).toBe(0);
    const rows = JSON.parse((await cli(['ca', 'list', '--json'], env)).out) as { name: string; status: string; keyUri: string }[];
    expect(rows.map((r) => [r.name, r.status])).toEqual([
      ['issuing-2026', 'superseded'],
      ['issuing-2027', 'active'],
    ]);
    expect(rows[1]!.keyUri).toBe(key('issuing-2027'));

    expect((await cli(['ca', 'activate', 'issuing-2026'], env)).code).toBe(0);
    expect((await cli(['ca', 'retire', 'issuing-2027'], env)).code).toBe(0);
    const after = JSON.parse((await cli(['ca', 'list', '--json'], env)).out) as { name: string; status: string }[];
    expect(after.map((r) => r.status)).toEqual(['active', 'retired']);
    expect((await cli(['ca', 'retire', 'nobody'], env)).code).toBe(2);
  });
});
