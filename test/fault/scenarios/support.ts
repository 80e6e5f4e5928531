/**
 * Plumbing for the fault scenarios (../shared/reference/faults.md, Scenarios table): a CA on the PKCS#11 fault
 * shim, a private PostgreSQL cluster that a test may stop and start without touching the shared server, the CA as
 * a child process (`strongroom serve`) that a test may SIGKILL, and small HTTP/OCSP/CSR helpers that record what a
 * client was handed in a FaultLedger (test/fault/invariants.ts).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { BasicOCSPResponse, OCSPResponse } from '@peculiar/asn1-ocsp';
import { AsnConvert } from '@peculiar/asn1-schema';
import type { Knex } from 'knex';
import pg from 'pg';
import { openPostgres } from '../../../ca/db/connect.ts';
import { issuerHashes } from '../../../ocsp/encoding/index.ts';
import { buildCsr, cnName, extensionRequest, gn, pem, san } from '../../csr/support.ts';
import { call, ensureResponder, type Answer, type IssueAnswer, type TestCa } from '../../http/fixture.ts';
import { certId, nonceExtension, request as ocspRequest, serialContents } from '../../ocsp/encoding/library.ts';
import type { TestDatabase } from '../../support/database.ts';
import { freePort } from '../../support/free-port.ts';
import { buildFaultShim } from '../build-shim.ts';
import { FaultControl } from '../fault-control.ts';
import type { FaultLedger } from '../invariants.ts';

const execFileAsync = promisify(execFile);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` (every `everyMs`) until it is truthy or `timeoutMs` passes; returns its value and how long it took. */
export async function waitFor<T>(cond: () => T | Promise<T>, timeoutMs: number, what: string, everyMs = 50): Promise<{ value: NonNullable<T>; ms: number }> {
  const start = performance.now();
  for (;;) {
    let value: T | undefined;
    let last: unknown;
    try {
      value = await cond();
    } catch (e) {
      last = e;
    }
    if (value) return { value: value as NonNullable<T>, ms: performance.now() - start };
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

// ---- fault shim ------------------------------------------------------------------------------------------------------

/**
 * Builds the shim and points the C environment at a fresh rule file. Call before anything in this process loads a
 * PKCS#11 module through the shim (each vitest test file runs in a process of its own).
 */
export function setUpShim(): { shim: string; fc: FaultControl } {
  const root = process.env.STRONGROOM_TEST_ROOT ?? tmpdir();
  const fc = new FaultControl(mkdtempSync(join(root, 'fault-scenario-')));
  fc.applyEnv();
  return { shim: buildFaultShim(), fc };
}

// ---- requests --------------------------------------------------------------------------------------------------------

export interface TestCsr {
  pem: string;
  /** sha256 of the SPKI, as certificates.spki_sha256 records it. */
  spkiSha256: string;
  name: string;
}

/** A P-256 CSR for `<name>.svc.internal` (built in-process: no openssl per request). */
export function csrFor(name: string): TestCsr {
  const keyPair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dns = `${name}.svc.internal`;
  const der = buildCsr({ keyPair, subject: cnName(dns), attributes: extensionRequest(san(gn.dns(dns))) });
  const spki = keyPair.publicKey.export({ type: 'spki', format: 'der' });
  return { pem: pem(der), spkiSha256: createHash('sha256').update(spki).digest('hex'), name };
}

export const GRANTS = { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } };

/** POST /v1/certificates; a certificate handed out (201, or a 200 replay) goes into the ledger. */
export async function issueRecorded(url: string, token: string, ledger: FaultLedger, csr: TestCsr, headers: Record<string, string> = {}): Promise<Answer<IssueAnswer>> {
  const r = await call<IssueAnswer>(`${url}/v1/certificates`, { method: 'POST', token, json: { csr: csr.pem, profile: 'tls-server' }, headers });
  if ((r.status === 201 || r.status === 200) && r.body.certificate) ledger.returnedCertificate(r.body, csr.name);
  return r;
}

/** Like issueRecorded, but a connection torn down by a killed server is an answer too (status 0). */
export async function issueOrDrop(url: string, token: string, ledger: FaultLedger, csr: TestCsr): Promise<{ status: number; body?: IssueAnswer }> {
  try {
    return await issueRecorded(url, token, ledger, csr);
  } catch {
    return { status: 0 };
  }
}

export async function revoke(url: string, adminToken: string, serial: string, reason = 'unspecified') {
  return call<{ status: string }>(`${url}/v1/certificates/${serial}/revoke`, { method: 'POST', token: adminToken, json: { reason } });
}

/** GET the CA's CRL; a 200 goes into the ledger. */
export async function fetchCrl(url: string, ledger: FaultLedger, caName = 'issuing-ca'): Promise<{ status: number; number?: bigint; der?: Buffer }> {
  const r = await call<Buffer>(`${url}/crl/${caName}.crl`);
  if (r.status !== 200) return { status: r.status };
  return { status: 200, number: ledger.servedCrl(caName, r.body).crlNumber, der: r.body };
}

/** Polls the CRL until its number is at least `n` (each one fetched goes into the ledger). */
export async function waitForCrlNumber(url: string, ledger: FaultLedger, n: bigint, timeoutMs = 20_000): Promise<Buffer> {
  const { value } = await waitFor(async () => {
    const r = await call<Buffer>(`${url}/crl/issuing-ca.crl`);
    if (r.status !== 200) return undefined;
    const c = ledger.servedCrl('issuing-ca', r.body);
    return c.crlNumber >= n ? r.body : undefined;
  }, timeoutMs, `CRL number ${n}`, 100);
  return value;
}

// ---- OCSP ------------------------------------------------------------------------------------------------------------

export interface OcspAnswer {
  /** OCSPResponseStatus: 0 successful, 3 tryLater, … */
  responseStatus: number;
  certStatus?: 'good' | 'revoked' | 'unknown';
  thisUpdate?: Date;
  nextUpdate?: Date;
  httpStatus: number;
  ms: number;
}

export function parseOcsp(der: Uint8Array): Omit<OcspAnswer, 'httpStatus' | 'ms'> {
  const resp = AsnConvert.parse(der, OCSPResponse);
  if (resp.responseStatus !== 0 || !resp.responseBytes) return { responseStatus: resp.responseStatus };
  const basic = AsnConvert.parse(resp.responseBytes.response.buffer, BasicOCSPResponse);
  const single = basic.tbsResponseData.responses[0]!;
  // The CHOICE's alternative, from its context tag: [0] good, [1] revoked, [2] unknown.
  const raw = new Uint8Array(AsnConvert.serialize(single.certStatus));
  const certStatus = (['good', 'revoked', 'unknown'] as const)[raw[0]! & 0x1f]!;
  return { responseStatus: 0, certStatus, thisUpdate: single.thisUpdate, ...(single.nextUpdate ? { nextUpdate: single.nextUpdate } : {}) };
}

/** One OCSP POST for `serial` of the issuer `issuingDer`, optionally with a nonce (which forces a live signature). */
export async function ocspAsk(url: string, issuingDer: Uint8Array, serial: string, opts: { nonce?: boolean } = {}): Promise<OcspAnswer> {
  const h = issuerHashes(issuingDer).sha1;
  const s = serialContents(serial);
  const body = ocspRequest({
    certIds: [certId({ nameHash: h.name, keyHash: h.key, serial: s })],
    ...(opts.nonce ? { extensions: [nonceExtension(Uint8Array.from(Buffer.from(Math.random().toString(16).slice(2, 18).padEnd(16, '0'), 'hex')))] } : {}),
  });
  const r = await call<Buffer>(`${url}/ocsp`, { method: 'POST', body: Buffer.from(body), headers: { 'Content-Type': 'application/ocsp-request' } });
  if (r.status !== 200) return { responseStatus: -1, httpStatus: r.status, ms: r.ms };
  return { ...parseOcsp(r.body), httpStatus: r.status, ms: r.ms };
}

/** Has the CA's responder certificate, then pre-signs every due answer now (as test/ocsp/scale-out.test.ts does). */
export async function presignNow(t: TestCa): Promise<void> {
  await ensureResponder(t);
  for (let n = await t.ca.ocsp!.responder.presignDue(500); n > 0; n = await t.ca.ocsp!.responder.presignDue(500));
}

// ---- readiness -------------------------------------------------------------------------------------------------------

export interface Ready {
  status: number;
  body: { ready?: boolean; database?: string | boolean; hsm?: { ready?: boolean; serving?: string } };
}

export async function readyz(url: string): Promise<Ready> {
  const r = await call<Ready['body']>(`${url}/readyz`);
  return { status: r.status, body: r.body };
}

// ---- certificates rows -----------------------------------------------------------------------------------------------

export interface CertRow {
  id: number;
  serial: string;
  status: string;
  hasDer: boolean;
}

/** The rows issued for one CSR's key (spki_sha256): exactly one per completed or attempted issuance. */
export async function rowsFor(db: Knex, csr: TestCsr): Promise<CertRow[]> {
  const rows = (await db('certificates').where({ spki_sha256: csr.spkiSha256 }).orderBy('id').select('id', 'serial', 'status', db.raw('certificate_der IS NOT NULL AS has_der'))) as { id: number | string; serial: string; status: string; has_der: boolean }[];
  return rows.map((r) => ({ id: Number(r.id), serial: r.serial, status: r.status, hasDer: r.has_der }));
}

// ---- a private PostgreSQL cluster ------------------------------------------------------------------------------------

function findPgBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')) && existsSync(join(base, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], 'bin') : undefined;
}

function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('postgres:'));
    if (!line) return undefined;
    const f = line.split(':');
    return { uid: Number(f[2]), gid: Number(f[3]) };
  } catch {
    return undefined;
  }
}

const PG_BIN = findPgBin();
const PG_USER = postgresUser();
const RUNUSER = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));

/** Why a private cluster cannot be run here, or undefined when it can. */
export const privatePostgresUnavailable: string | undefined = !PG_BIN
  ? 'no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin'
  : !PG_USER
    ? 'no postgres OS user'
    : process.getuid?.() !== 0
      ? 'not root: cannot run the cluster as the postgres user'
      : !RUNUSER
        ? 'no runuser'
        : undefined;


/**
 * A PostgreSQL cluster of the test's own, run as the postgres OS user on a free port with trust authentication:
 * stopped (`pg_ctl stop -m immediate`, as a crash) and started again at will, never the shared server.
 */
export class PrivatePostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async create(): Promise<PrivatePostgres> {
    if (privatePostgresUnavailable) throw new Error(privatePostgresUnavailable);
    // Under /tmp itself: the run's root (STRONGROOM_TEST_ROOT) is private to root and the postgres user cannot enter it.
    const dir = mkdtempSync(join(tmpdir(), 'strongroom-fault-pg-'));
    chownSync(dir, PG_USER!.uid, PG_USER!.gid);
    const cluster = new PrivatePostgres(dir, await freePort());
    cluster.asPostgres('initdb', ['-D', cluster.dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    await cluster.start();
    return cluster;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  private asPostgres(tool: string, args: string[]): string {
    return execFileSync(RUNUSER!, ['-u', 'postgres', '--', join(PG_BIN!, tool), ...args], { cwd: this.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  }

  /** asPostgres without blocking the event loop (the CA under test may share it). */
  private async asPostgresAsync(tool: string, args: string[]): Promise<void> {
    await execFileAsync(RUNUSER!, ['-u', 'postgres', '--', join(PG_BIN!, tool), ...args], { cwd: this.dir, encoding: 'utf8', timeout: 120_000 });
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    // fsync off: an immediate stop is a crash of PostgreSQL, not of the machine; the page cache keeps what it wrote.
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
    await this.asPostgresAsync('pg_ctl', ['-D', this.dataDir, '-l', join(this.dir, 'server.log'), '-w', '-t', '90', '-o', opts, 'start']);
    await waitFor(async () => {
      const c = new pg.Client({ connectionString: this.url() });
      try {
        await c.connect();
        await c.query('select 1');
        return true;
      } finally {
        await c.end().catch(() => undefined);
      }
    }, 30_000, 'the private PostgreSQL to accept connections', 100);
  }

  /** Stops the server as a crash would: no checkpoint, every connection cut. */
  async stop(): Promise<void> {
    await this.asPostgresAsync('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', '-t', '60', 'stop']);
  }

  running(): boolean {
    try {
      this.asPostgres('pg_ctl', ['-D', this.dataDir, 'status']);
      return true;
    } catch {
      return false;
    }
  }

  /** A fresh database on this cluster, shaped like test/support/database.ts's. */
  async database(name = 'strongroom_fault'): Promise<TestDatabase> {
    const admin = new pg.Client({ connectionString: this.url() });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const url = this.url(name);
    const knex = await openPostgres(url);
    let dropped = false;
    return {
      knex,
      url,
      drop: async () => {
        if (dropped) return;
        dropped = true;
        await knex.destroy().catch(() => undefined);
      },
    };
  }

  destroy(): void {
    if (this.running()) {
      try {
        this.asPostgres('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', '-t', '60', 'stop']);
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- the CA as a child process ---------------------------------------------------------------------------------------

const CLI = resolve('ca/cli/strongroom.mjs');

export interface ChildCa {
  child: ChildProcess;
  url: string;
  /** stderr so far (logs), for failure messages. */
  log(): string;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, and wait for the exit. */
  stop(): Promise<void>;
}

/**
 * `strongroom serve` in a child process of its own (as bench/issue-bench.ts runs the CA): the CLI with a JSON config
 * file, the HSM module, token and PIN from flags and the environment, the database from DATABASE_URL.
 */
export async function spawnCa(o: { dir: string; config: Record<string, unknown>; module: string; token: string; pin: string; databaseUrl: string; env?: NodeJS.ProcessEnv }): Promise<ChildCa> {
  const configFile = join(o.dir, `serve-${Date.now()}.json`);
  writeFileSync(configFile, JSON.stringify(o.config));
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--config', configFile, '--module', o.module, '--token', o.token, '--pin-source', 'env:STRONGROOM_FAULT_CA_PIN', '--data-dir', o.dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...o.env, DATABASE_URL: o.databaseUrl, STRONGROOM_FAULT_CA_PIN: o.pin },
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`strongroom serve did not start within 90 s:\n${stderr.slice(-4000)}`)), 90_000);
    lines.on('line', (line) => {
      const m = /serving on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`strongroom serve exited (${code ?? signal}) before serving:\n${stderr.slice(-4000)}`));
    });
  });
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return { child, url, log: () => stderr, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') };
}
