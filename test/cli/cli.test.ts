// The strongroom CLI, in process: exit codes, refusals, and the dev quick start end to end on SoftHSM2.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devCommand } from '../../ca/cli/dev-command.ts';
import { main } from '../../ca/cli/main.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { createTestToken, type TestToken } from '../support/token.ts';

async function cli(argv: string[], env: Record<string, string | undefined> = {}) {
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

describe('strongroom CLI', () => {
  let token: TestToken;
  let dataDir: string;

  beforeAll(() => {
    token = createTestToken('cli');
    dataDir = mkdtempSync(join(tmpdir(), 'strongroom-cli-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const hsmEnv = () => ({ STRONGROOM_HSM_TOKEN: token.label, STRONGROOM_HSM_PIN: token.pin, STRONGROOM_HSM_PIN_SOURCE: undefined, STRONGROOM_DATA_DIR: dataDir });

  it.each([
    ['no command', [], 2, /usage: strongroom/],
    ['unknown command', ['frobnicate'], 2, /unknown command "frobnicate"/],
    ['unknown hsm command', ['hsm', 'explode'], 2, /unknown hsm command/],
    ['PIN as a flag', ['hsm', 'keys', '--pin', '1234'], 2, /never taken from the command line/],
    ['PIN as --pin=', ['hsm', 'keys', '--pin=1234'], 2, /never taken from the command line/],
    ['SO PIN as a flag', ['hsm', 'init-token', '--token', 'x', '--so-pin', '1'], 2, /never taken from the command line/],
    ['unknown option', ['hsm', 'keys', '--colour'], 2, /Unknown option '--colour'/],
    ['unknown key type', ['hsm', 'keygen', '--type', 'ec-p521', '--label', 'x'], 2, /--type must be one of/],
    ['keygen without label', ['hsm', 'keygen', '--type', 'ec-p256'], 2, /--label is required/],
    ['URI with pin-value', ['hsm', 'bench', '--key', 'pkcs11:token=x;object=y?pin-value=1234'], 2, /pin-value is not accepted/],
    ['bench without key', ['hsm', 'bench'], 2, /bench needs --key/],
    ['unknown db command', ['db', 'drop-everything'], 2, /unknown db command/],
  ])('%s → exit %i', async (_name, argv, code, message) => {
    const r = await cli(argv as string[], hsmEnv());
    expect(r.code).toBe(code);
    expect(`${r.out}\n${r.err}`).toMatch(message);
    expect(r.err).not.toContain(token.pin);
  });

  it('a wrong PIN exits 3 with a clear message that does not echo the PIN', async () => {
    const r = await cli(['hsm', 'keys'], { ...hsmEnv(), STRONGROOM_HSM_PIN: 'not-the-pin-9876' });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/CKR_PIN_INCORRECT/);
    expect(r.err).not.toContain('not-the-pin-9876');
  });

  it('a token that does not exist exits 4', async () => {
    const r = await cli(['hsm', 'keys'], { ...hsmEnv(), STRONGROOM_HSM_TOKEN: 'no-such-token' });
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/no token with label "no-such-token"/);
  });

  it('keygen then keys shows the key with its protective attributes read from the token', async () => {
    const g = await cli(['hsm', 'keygen', '--type', 'ec-p256', '--label', 'cli-key'], hsmEnv());
    expect(g.code).toBe(0);
    expect(g.out).toMatch(/generated ec-p256 "cli-key" id [0-9a-f]{32}/);
    expect(g.out).toContain('-----BEGIN PUBLIC KEY-----');
    const again = await cli(['hsm', 'keygen', '--type', 'ec-p256', '--label', 'cli-key'], hsmEnv());
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/already exists/);
    const k = await cli(['hsm', 'keys', '--json'], hsmEnv());
    expect(k.code).toBe(0);
    const keys = JSON.parse(k.out) as { label: string; type: string; protection: Record<string, boolean>; uri: string }[];
    const key = keys.find((x) => x.label === 'cli-key')!;
    expect(key.type).toBe('ec-p256');
    expect(key.protection).toMatchObject({ sensitive: true, extractable: false, local: true, alwaysSensitive: true, neverExtractable: true, decrypt: false, unwrap: false, derive: false });
    expect(key.uri).toContain(`token=${token.label}`);
  });

  it('hsm bench signs through the pool on the named key', async () => {
    const r = await cli(['hsm', 'bench', '--key', `pkcs11:token=${token.label};object=cli-key`, '--workers', '1', '--seconds', '0.3'], hsmEnv());
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/workers=1 ec-p256 \d+ signatures\/s .* errors 0/);
  });

  describe('dev quick start', () => {
    let db: TestDatabase;
    let devDir: string;
    beforeAll(async () => {
      db = await freshDatabase();
      devDir = db.dataDir ?? mkdtempSync(join(tmpdir(), 'strongroom-dev-'));
      // PGlite is single-process: let the CLI open it.
      if (db.dataDir) await db.knex.destroy();
    });
    afterAll(async () => {
      await db.drop().catch(() => undefined);
      if (!db.dataDir) rmSync(devDir, { recursive: true, force: true });
    });

    it('builds the dev PKI by ceremony, imports the issuing CA, creates the dev client — and a second run changes nothing', { timeout: 180_000 }, async () => {
      const env = { DATABASE_URL: db.url, STRONGROOM_HSM_TOKEN: undefined, STRONGROOM_HSM_PIN: undefined, PORT: undefined };
      const first = await cli(['dev', '--data-dir', devDir, '--no-serve'], env);
      expect(first.err).toBe('');
      expect(first.code).toBe(0);
      expect(first.out).toMatch(/initialised SoftHSM2 token "strongroom-dev"/);
      expect(first.out).toMatch(/initialised SoftHSM2 token "strongroom-dev-root"/);
      expect(first.out).toMatch(/generated ec-p256 key "issuing-ca" inside the online token/);
      // The responder's and the TSA's keys come with their service certificates at start, not from the setup.
      expect(first.out).not.toMatch(/generated .* key "(ocsp-responder|tsa)"/);
      for (const step of ['root-key', 'root-cert', 'intermediate-cert', 'root-crl']) expect(first.out).toContain(`ran the dev ${step} ceremony`);
      expect(first.out).toMatch(/applied \d+ migration\(s\)/);
      expect(first.out).toMatch(/imported the issuing CA "dev-issuing-ca"/);
      expect(first.out).toMatch(/created the dev client "dev"/);
      expect(existsSync(join(devDir, 'root.pem'))).toBe(true);
      expect(readFileSync(join(devDir, 'dev-token'), 'utf8')).toMatch(/^sr_/);
      const verify = execFileSync('openssl', ['verify', '-CAfile', join(devDir, 'root.pem'), join(devDir, 'ceremonies', 'issuing.pem')], { encoding: 'utf8' });
      expect(verify).toMatch(/: OK/);
      // The root's CRL, signed by the root, and the server config that publishes it where the issuing CA points.
      const rootCrl = join(devDir, 'ceremonies', 'root.crl');
      const crlText = execFileSync('openssl', ['crl', '-in', rootCrl, '-CAfile', join(devDir, 'root.pem'), '-noout', '-text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(crlText).toMatch(/No Revoked Certificates/);
      expect(JSON.parse(readFileSync(join(devDir, 'dev-config.json'), 'utf8'))).toEqual({ published: { '/crl/dev-root.crl': rootCrl, '/ca/dev-root.crt': join(devDir, 'root.pem') }, tsa: { enabled: true } });
      const issuingText = execFileSync('openssl', ['x509', '-in', join(devDir, 'ceremonies', 'issuing.pem'), '-noout', '-text'], { encoding: 'utf8' });
      expect(issuingText).toMatch(/URI:http:\/\/127\.0\.0\.1:8080\/crl\/dev-root\.crl/);
      const second = await cli(['dev', '--data-dir', devDir, '--no-serve'], env);
      expect(second.code).toBe(0);
      expect(second.out).not.toMatch(/initialised|generated|ran the dev|imported|created the dev client/);
      expect(second.out).toMatch(/up to date/);
    });

    it('then serves: ready, and the time-stamp authority answers a token openssl ts verifies against the dev root', { timeout: 120_000 }, async () => {
      const env = { DATABASE_URL: db.url, STRONGROOM_HSM_TOKEN: undefined, STRONGROOM_HSM_PIN: undefined, PORT: undefined };
      const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      const stop = new AbortController();
      const out: string[] = [];
      const running = devCommand(['--data-dir', devDir, '--port', '0'], (l) => out.push(l), (l) => out.push(l), { signal: stop.signal });
      try {
        let base: string | undefined;
        for (let i = 0; i < 600 && !base; i++) {
          base = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out.join('\n'))?.[1];
          if (!base) await new Promise((r) => setTimeout(r, 100));
        }
        expect(base, out.join('\n')).toBeDefined();
        expect(out.join('\n')).toContain('openssl ts -query');
        const work = mkdtempSync(join(tmpdir(), 'strongroom-dev-tsa-'));
        const query = join(work, 'q.tsq');
        execFileSync('openssl', ['ts', '-query', '-data', join(devDir, 'root.pem'), '-sha256', '-cert', '-out', query]);
        // The TSA's certificate is issued at start: 503 until it is there.
        let res: Response | undefined;
        for (let i = 0; i < 50; i++) {
          res = await fetch(`${base}/tsa`, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: readFileSync(query) });
          if (res.status !== 503) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        expect(res!.status).toBe(200);
        expect(res!.headers.get('content-type')).toBe('application/timestamp-reply');
        const reply = join(work, 'r.tsr');
        writeFileSync(reply, Buffer.from(await res!.arrayBuffer()));
        const verified = execFileSync('openssl', ['ts', '-verify', '-queryfile', query, '-in', reply, '-CAfile', join(devDir, 'root.pem'), '-untrusted', join(devDir, 'ceremonies', 'issuing.pem')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        expect(verified).toMatch(/Verification: OK/);
        expect((await fetch(`${base}/readyz`)).status).toBe(200);
        rmSync(work, { recursive: true, force: true });
      } finally {
        stop.abort();
        expect(await running).toBe(0);
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    });
  });
});
