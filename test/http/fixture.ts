/**
 * A running online CA for tests: a SoftHSM2 token holding the issuing key, a software root (offline, so a software
 * key is fine in tests), the issuing CA imported as a ceremony would hand it over, a fresh database, and the
 * server booted in-process on an ephemeral port on 127.0.0.1. The signing pool is wrapped to count every HSM
 * call, and a hook lets a test act just before one (fail it, or stop the database).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { importAuthority } from '../../ca/authorities/import-authority.ts';
import { AuthorityStore } from '../../ca/db/authority-store.ts';
import { openDatabase } from '../../ca/db/connect.ts';
import { migrateLatest } from '../../ca/db/migrate.ts';
import { createCaServer, type CaServer, type CaServerConfigInput } from '../../ca/server/index.ts';
import { issueCertificate, toPem, type TbsCertificateSpec } from '../../ca/x509/index.ts';
import { Pkcs11KeyStore, type SignRequest, type SigningPool } from '../../hsm/index.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { SoftwareSigner } from '../support/software-signer.ts';
import { createTestToken, type TestToken } from '../support/token.ts';
import { intermediateLint, intermediateSpec, rootLint, rootSpec } from '../x509/fixtures.ts';

/**
 * Counts signatures asked of the HSM pool by the CA's issuing keys; `before` runs first (for every signature) and may
 * throw to fail the call. Service keys (`svc-…`: OCSP responders pre-signing in the background, the TSA) are not
 * counted: what a refused request must not cause is an issuance or CRL signature.
 */
export class CountingPool implements SigningPool {
  signs = 0;
  before: ((req: SignRequest) => void | Promise<void>) | undefined;
  constructor(readonly inner: SigningPool) {}
  async sign(req: SignRequest): Promise<Uint8Array> {
    if (!req.key.label?.startsWith('svc-')) this.signs++;
    if (this.before) await this.before(req);
    return this.inner.sign(req);
  }
  health() {
    return this.inner.health();
  }
  close() {
    return this.inner.close();
  }
}

export interface CaChain {
  token: TestToken;
  root: SoftwareSigner;
  rootDer: Uint8Array;
  issuingDer: Uint8Array;
  issuingLabel: string;
  /** root.pem + issuing.pem, for openssl verify -CAfile. */
  caFile: string;
  dir: string;
}

export interface ChainOptions {
  /** Validity of the issuing CA certificate (default: 2026-01-01 to 2031-12-31, the x509 fixtures'). */
  notBefore?: Date;
  notAfter?: Date;
  /** More issuing keys to create on the token (rollover tests). */
  extraKeys?: string[];
}

export async function makeChain(prefix: string, opts: ChainOptions = {}): Promise<CaChain> {
  const token = createTestToken(prefix);
  const issuingLabel = 'issuing-ca';
  const ks = Pkcs11KeyStore.open({ module: token.module, token: { label: token.label }, pin: token.pin });
  const issuing = ks.generate({ type: 'ec-p256', label: issuingLabel });
  for (const label of opts.extraKeys ?? []) ks.generate({ type: 'ec-p256', label });
  ks.close();
  const root = SoftwareSigner.generate('ec-p384');
  const rootCert = await issueCertificate(await rootSpec(root), root, rootLint);
  const spec: TbsCertificateSpec = await intermediateSpec(rootCert.der, root, issuing.spki);
  if (opts.notBefore) spec.notBefore = opts.notBefore;
  if (opts.notAfter) spec.notAfter = opts.notAfter;
  const intermediate = await issueCertificate(spec, root, intermediateLint(rootCert.der));
  const dir = mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), `${prefix}-`));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, toPem(rootCert.der, 'CERTIFICATE') + toPem(intermediate.der, 'CERTIFICATE'));
  return { token, root, rootDer: rootCert.der, issuingDer: intermediate.der, issuingLabel, caFile, dir };
}

/** Another issuing CA certificate under the same root for a key already on the token (rollover). */
export async function nextIssuer(chain: CaChain, label: string, cn: string): Promise<Uint8Array> {
  const ks = Pkcs11KeyStore.open({ module: chain.token.module, token: { label: chain.token.label }, pin: chain.token.pin });
  const spki = ks.publicKey({ label }).spki;
  ks.close();
  const cert = await issueCertificate(await intermediateSpec(chain.rootDer, chain.root, spki, cn), chain.root, intermediateLint(chain.rootDer));
  return cert.der;
}

export async function importIssuer(db: Knex, chain: CaChain, name: string, certificateDer = chain.issuingDer, label = chain.issuingLabel, activate = true) {
  return importAuthority(
    {
      name,
      certificatePem: toPem(certificateDer, 'CERTIFICATE'),
      chainPem: [toPem(chain.rootDer, 'CERTIFICATE')],
      keyUri: `pkcs11:token=${chain.token.label};object=${label}`,
      activate,
    },
    {
      store: new AuthorityStore(db),
      now: () => new Date(),
      publicKeyOf: async () => {
        const ks = Pkcs11KeyStore.open({ module: chain.token.module, token: { label: chain.token.label }, pin: chain.token.pin });
        try {
          return ks.publicKey({ label }).spki;
        } finally {
          ks.close();
        }
      },
    },
  );
}

export const PUBLIC_URL = 'http://127.0.0.1:8080';

export function serverConfig(chain: CaChain, overrides: Partial<CaServerConfigInput> = {}): CaServerConfigInput {
  return {
    profilesDir: 'profiles',
    publicUrl: PUBLIC_URL,
    log: { level: 'silent' },
    ...overrides,
    http: { port: 0, host: '127.0.0.1', ...overrides.http },
    crl: { debounceMs: 200, retryMs: 500, ...overrides.crl },
    hsm: { module: chain.token.module, token: { label: chain.token.label }, pool: { workers: 2, deadlineMs: 5000 }, ...overrides.hsm },
  };
}

export interface TestCa {
  chain: CaChain;
  db: TestDatabase;
  ca: CaServer;
  pool: CountingPool;
  url: string;
  /** Issues a token for a new client with these grants. */
  client(name: string, grants: Parameters<CaServer['clients']['add']>[0]['grants']): Promise<string>;
  /** Rows in certificates, and HSM signatures asked for so far: what a refused request must not change. */
  counters(): Promise<{ rows: number; signs: number }>;
  close(): Promise<void>;
}

export interface TestCaOptions extends ChainOptions {
  config?: Partial<CaServerConfigInput>;
  /** Use this chain (e.g. to restart on the same token and database). */
  chain?: CaChain;
  db?: TestDatabase;
  /** Skip importing the issuing CA (it is in the database already). */
  noImport?: boolean;
  clock?: () => Date;
}

export async function startTestCa(prefix: string, opts: TestCaOptions = {}): Promise<TestCa> {
  const chain = opts.chain ?? (await makeChain(prefix, opts));
  const db = opts.db ?? (await freshDatabase());
  await migrateLatest(db.knex);
  if (!opts.noImport) await importIssuer(db.knex, chain, 'issuing-ca');
  let pool!: CountingPool;
  const ca = await createCaServer({
    // A test that moves the CA's clock (renewals, expiry) would fail the drift check against the database's clock;
    // such a test names a clock check of its own when it wants one.
    config: serverConfig(chain, opts.clock ? { clock: { check: 'none' }, ...opts.config } : opts.config),
    pin: chain.token.pin,
    database: db.knex,
    ...(opts.clock ? { clock: opts.clock } : {}),
    wrapPool: (p) => (pool = new CountingPool(p)),
  });
  const listening = await ca.listen();
  return {
    chain,
    db,
    ca,
    pool,
    url: listening.url,
    client: async (name, grants) => (await ca.clients.add({ name, grants }, 'test')).token,
    counters: async () => {
      const [row] = (await db.knex('certificates').count('* as n')) as { n: number | string }[];
      return { rows: Number(row!.n), signs: pool.signs };
    },
    close: async () => {
      await ca.close();
      if (!opts.db) await db.drop();
    },
  };
}

/** Reopens the test database after the server's handle was destroyed (PGlite: the same data directory). */
/**
 * The active issuer's OCSP responder certificate, issued now if it is still on its way (listen() waits for it only a
 * bounded time), and the responder reloaded to sign with it.
 */
export async function ensureResponder(t: TestCa): Promise<void> {
  await t.ca.serviceCertificates.ensure('ocsp', t.ca.issuers.active()!.row.id);
  await t.ca.ocsp!.responder.reload();
}

export async function reopen(db: TestDatabase): Promise<Knex> {
  return openDatabase(db.url ? { url: db.url, dataDir: '' } : { dataDir: db.dataDir! });
}

// ---- HTTP ---------------------------------------------------------------------------------------------------------

export interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  ms: number;
}

export async function call<T = Record<string, unknown>>(url: string, init: RequestInit & { json?: unknown; token?: string } = {}): Promise<Answer<T>> {
  const headers = new Headers(init.headers);
  if (init.json !== undefined) headers.set('Content-Type', 'application/json');
  if (init.token !== undefined) headers.set('Authorization', `Bearer ${init.token}`);
  const t0 = performance.now();
  const res = await fetch(url, { ...init, headers, ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}) });
  const buf = Buffer.from(await res.arrayBuffer());
  const ms = performance.now() - t0;
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, body: (type.includes('json') ? JSON.parse(buf.toString('utf8')) : buf) as T, ms };
}

export interface IssueAnswer {
  serial: string;
  certificate: string;
  chain: string[];
  error?: { code: string; message: string };
}

export function issue(t: TestCa, token: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return call<IssueAnswer>(`${t.url}/v1/certificates`, { method: 'POST', token, json: body, headers });
}

// ---- CSRs ---------------------------------------------------------------------------------------------------------

/** Runs openssl in `dir`; returns stdout (throws with stderr on failure). */
export function openssl(dir: string, args: string[], input?: string): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(input !== undefined ? { input } : {}) });
}

/** A CSR made by openssl: a new key (EC P-256 unless `newkey` says otherwise), subject and SANs as given. */
export function opensslCsr(dir: string, name: string, opts: { subject?: string; san?: string; newkey?: string[] } = {}): string {
  const args = ['req', '-new', '-nodes', ...(opts.newkey ?? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']), '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', opts.subject ?? '/O=Test'];
  if (opts.san) args.push('-addext', `subjectAltName=${opts.san}`);
  openssl(dir, args);
  return openssl(dir, ['req', '-in', `${name}.csr`]);
}
