// `strongroom serve` as an operator runs it: a separate process, the token and PIN from the environment, the
// database from DATABASE_URL or the data directory; it serves, issues, publishes, and stops cleanly on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../ca/audit/index.ts';
import { ClientService } from '../../ca/clients/index.ts';
import { ClientStore } from '../../ca/db/client-store.ts';
import { migrateLatest } from '../../ca/db/migrate.ts';
import { leafProfiles } from '../../ca/issuance/leaf-profiles.ts';
import { loadProfiles } from '../../ca/profiles/index.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { call, importIssuer, makeChain, opensslCsr, type CaChain } from './fixture.ts';

const LAUNCHER = join(import.meta.dirname, '../../ca/cli/strongroom.mjs');

describe('strongroom serve', () => {
  let chain: CaChain;
  let db: TestDatabase;
  let token: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    chain = await makeChain('serve');
    db = await freshDatabase();
    await migrateLatest(db.knex);
    await importIssuer(db.knex, chain, 'issuing-ca');
    const clients = new ClientService({ store: new ClientStore(db.knex), audit: new AuditLog(db.knex), profiles: leafProfiles(loadProfiles('profiles')), clock: () => new Date(), random: (n) => new Uint8Array(randomBytes(n)) });
    token = (await clients.add({ name: 'svc', grants: { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } } }, 'test')).token;
    if (db.dataDir) await db.knex.destroy(); // the embedded database: the server process opens it
    env = { ...process.env, STRONGROOM_HSM_PIN: chain.token.pin, STRONGROOM_HSM_TOKEN: chain.token.label, STRONGROOM_DATA_DIR: db.dataDir ?? chain.dir, STRONGROOM_HSM_PIN_SOURCE: undefined };
    if (db.url) env.DATABASE_URL = db.url;
    else delete env.DATABASE_URL;
  });
  afterAll(async () => db?.drop().catch(() => undefined));

  function start(args: string[]): { child: ChildProcess; url: Promise<string>; exit: Promise<{ code: number | null; stderr: string }> } {
    const child = spawn(process.execPath, [LAUNCHER, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const url = new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /serving on (http:\/\/\S+)/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error(`exited before serving: ${stderr}`)));
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
    url.catch(() => undefined);
    return { child, url, exit };
  }

  it('serves the API, CRLs and health on an ephemeral port, and stops on SIGTERM with exit 0', { timeout: 60_000 }, async () => {
    const s = start(['--port', '0', '--host', '127.0.0.1', '--public-url', 'http://ca.test:8080']);
    try {
      const url = await s.url;
      expect((await call(`${url}/healthz`)).status).toBe(200);
      expect((await call(`${url}/readyz`)).status).toBe(200);
      const csr = opensslCsr(chain.dir, 'serve', { subject: '/CN=s.svc.internal', san: 'DNS:s.svc.internal' });
      const r = await call<{ serial: string; certificate: string }>(`${url}/v1/certificates`, { method: 'POST', token, json: { csr, profile: 'tls-server' } });
      expect(r.status).toBe(201);
      let crl = await call(`${url}/crl/issuing-ca.crl`);
      for (let i = 0; i < 50 && crl.status !== 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        crl = await call(`${url}/crl/issuing-ca.crl`);
      }
      expect(crl.status).toBe(200);
    } finally {
      s.child.kill('SIGTERM');
    }
    const { code, stderr } = await s.exit;
    expect(stderr).toContain('stopping');
    expect(code).toBe(0);
  });

  it('refuses a config with an unknown key (exit 2, naming it), and a PIN on the command line', async () => {
    const file = join(chain.dir, 'serve.json');
    writeFileSync(file, JSON.stringify({ http: { prot: 8080 } }));
    const bad = start(['--config', file, '--port', '0']);
    const r = await bad.exit;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/http.*prot|prot/);
    const pin = await start(['--pin', '1234']).exit;
    expect(pin.code).toBe(2);
    expect(pin.stderr).toMatch(/never taken from the command line/);
  });
});
