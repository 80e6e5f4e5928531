/**
 * faults.md Scenarios, the database rows, with PostgreSQL really stopped (`pg_ctl stop -m immediate`, a crash) and
 * started again — a private cluster of this test's own (never the shared server other test files use). The CA
 * runs in this process on the PKCS#11 fault shim; the CountingPool of test/http/fixture.ts counts the HSM
 * signatures asked for by the issuing key. After every scenario the four invariants.
 *
 *   database down before the serial is reserved → 503; the HSM is never called
 *   database down after the serial is reserved  → 5xx; the serial stays (listed as orphaned), is revocable, and
 *                                                 OCSP answers for it (and says revoked once it is)
 *   OCSP responder loses the database           → keeps serving cached answers; otherwise tryLater; never `good`
 *                                                 for an unknown serial (the CA's /ocsp and a standalone responder)
 *
 * Skipped with the reason when no PostgreSQL server binaries can be run here (the rest of the suite does not need
 * them and runs on PGlite when DATABASE_URL is unset).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateStore } from '../../../ca/db/certificate-store.ts';
import { createOcspServer, type OcspServer } from '../../../ca/server/ocsp-server.ts';
import { revokedSerials } from '../../http/crl-support.ts';
import { makeChain, startTestCa, type TestCa } from '../../http/fixture.ts';
import type { TestDatabase } from '../../support/database.ts';
import type { FaultControl } from '../fault-control.ts';
import { FaultLedger, normalSerial } from '../invariants.ts';
import {
  csrFor,
  fetchCrl,
  GRANTS,
  issueRecorded,
  ocspAsk,
  presignNow,
  PrivatePostgres,
  privatePostgresUnavailable,
  readyz,
  revoke,
  rowsFor,
  setUpShim,
  waitFor,
  waitForCrlNumber,
} from './support.ts';

let fc: FaultControl;
let cluster: PrivatePostgres;
let db: TestDatabase;
let t: TestCa;
let token: string;
let admin: string;
let standalone: OcspServer | undefined;
const ledger = new FaultLedger();
let n = 0;
const next = (what: string) => csrFor(`${what}-${++n}`);
/** A certificate issued before the faults, its OCSP answer pre-signed and in memory. */
let cached: string;
/** The reservation orphaned by the second scenario (revoked there). */
let orphan: string;

/** Stops the database; the next step waits for the CA to notice. */
async function databaseDown(): Promise<void> {
  await cluster.stop();
  await waitFor(async () => (await readyz(t.url)).body.database === 'unavailable', 10_000, '/readyz to say the database is unavailable');
}

async function databaseUp(): Promise<number> {
  const t0 = performance.now();
  await cluster.start();
  await waitFor(async () => (await readyz(t.url)).status === 200, 30_000, '/readyz green with the database back');
  return performance.now() - t0;
}

describe.skipIf(privatePostgresUnavailable !== undefined)(`database faults on a private PostgreSQL cluster${privatePostgresUnavailable ? ` (skipped: ${privatePostgresUnavailable})` : ''}`, () => {
  beforeAll(async () => {
    const { shim, fc: control } = setUpShim();
    fc = control;
    cluster = await PrivatePostgres.create();
    db = await cluster.database();
    const chain = await makeChain('fault-db');
    t = await startTestCa('fault-db', {
      chain,
      db,
      config: {
        hsm: { module: shim, token: { label: chain.token.label }, pool: { workers: 2, pipelineDepth: 2, deadlineMs: 10_000 } },
        crl: { debounceMs: 200, retryMs: 500 },
        ocsp: { syncMs: 100 },
      },
    });
    token = await t.client('svc', GRANTS);
    admin = await t.client('ops', { ...GRANTS, admin: true });
    await waitForCrlNumber(t.url, ledger, 1n);
    const r = await issueRecorded(t.url, token, ledger, next('cached'));
    expect(r.status).toBe(201);
    cached = r.body.serial;
    await presignNow(t);
    expect(await ocspAsk(t.url, t.chain.issuingDer, cached)).toMatchObject({ responseStatus: 0, certStatus: 'good' });
    await ledger.check(db.knex, 'baseline');
  }, 180_000);

  afterAll(async () => {
    fc?.clear();
    await standalone?.close().catch(() => undefined);
    if (cluster && !cluster.running()) await cluster.start().catch(() => undefined);
    await t?.close().catch(() => undefined);
    await db?.drop();
    cluster?.destroy();
  }, 120_000);

  it('database down before the serial is reserved: 503, the HSM is never called; service resumes when it returns', async () => {
    const signs = t.pool.signs;
    const shimSigns = fc.stats().signs ?? 0;
    await databaseDown();
    const csr = next('before');
    const r = await issueRecorded(t.url, token, ledger, csr);
    expect(r.status, JSON.stringify(r.body)).toBe(503);
    expect(r.body.error?.code).toBe('unavailable');
    expect(r.body.certificate).toBeUndefined();
    expect(r.ms).toBeLessThan(10_000);
    expect(t.pool.signs, 'no issuance signature was asked of the HSM').toBe(signs);
    const ready = await readyz(t.url);
    expect(ready).toMatchObject({ status: 503, body: { ready: false, database: 'unavailable', hsm: { ready: true } } });
    // The CRL already published is still served (from memory).
    expect((await fetchCrl(t.url, ledger)).status).toBe(200);

    const upMs = await databaseUp();
    expect(await rowsFor(db.knex, csr), 'nothing was reserved for the refused request').toEqual([]);
    expect(t.pool.signs).toBe(signs);
    // Background work (OCSP pre-signing) may sign through the shim; the issuing key did not.
    expect(fc.stats().signs ?? 0).toBeGreaterThanOrEqual(shimSigns);
    const ok = await issueRecorded(t.url, token, ledger, next('before-after'));
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    console.log(`database down before the reservation: 503 in ${r.ms.toFixed(0)} ms; ready again ${upMs.toFixed(0)} ms after the start`);
    await ledger.check(db.knex, 'database down before the serial is reserved');
  }, 120_000);

  it('database down after the serial is reserved: 5xx; the serial is listed as orphaned, revocable, and OCSP answers for it', async () => {
    const signs = t.pool.signs;
    const csr = next('after');
    // The signature takes 3 s: time to stop the database between the reservation and the commit.
    fc.inject('C_Sign delay=3000');
    const pending = issueRecorded(t.url, token, ledger, csr);
    const { value: reserved } = await waitFor(async () => (await rowsFor(db.knex, csr)).find((row) => row.status === 'reserved'), 15_000, 'the reservation', 20);
    await cluster.stop();
    fc.clear();
    const r = await pending;
    expect(r.status, JSON.stringify(r.body)).toBeGreaterThanOrEqual(500);
    expect(r.body.certificate).toBeUndefined();
    expect(t.pool.signs, 'the HSM was asked to sign it').toBe(signs + 1);

    await databaseUp();
    const rows = await rowsFor(db.knex, csr);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.serial).toBe(reserved.serial);
    expect(rows[0]!.hasDer).toBe(false);
    expect(['reserved', 'failed']).toContain(rows[0]!.status);
    orphan = reserved.serial;
    if (rows[0]!.status === 'reserved') {
      const orphans = await new CertificateStore(db.knex).orphanedReservations(new Date(Date.now() + 1000));
      expect(orphans.map((o) => o.serial)).toContain(orphan);
    }

    // OCSP answers for it (a signed answer, never `good`), before and after the revocation.
    const before = await ocspAsk(t.url, t.chain.issuingDer, orphan);
    expect(before.responseStatus).toBe(0);
    expect(before.certStatus).not.toBe('good');
    const crlBefore = (await fetchCrl(t.url, ledger)).number!;
    const rv = await revoke(t.url, admin, orphan, 'unspecified');
    expect(rv.status, JSON.stringify(rv.body)).toBe(200);
    expect(await ocspAsk(t.url, t.chain.issuingDer, orphan)).toMatchObject({ responseStatus: 0, certStatus: 'revoked' });
    const crl = await waitForCrlNumber(t.url, ledger, crlBefore + 1n);
    expect(revokedSerials(crl)).toContain(normalSerial(orphan));
    console.log(`database down after the reservation: ${r.status} in ${r.ms.toFixed(0)} ms; row ${rows[0]!.status}; OCSP before revocation ${before.certStatus}`);
    await ledger.check(db.knex, 'database down after the serial is reserved');
  }, 120_000);

  it('OCSP responder loses the database: cached answers keep coming, otherwise tryLater, never good for an unknown serial', async () => {
    standalone = await createOcspServer({ config: { databaseUrl: db.url, http: { port: 0 }, ocsp: { syncMs: 100 }, log: { level: 'silent' } } });
    const standaloneUrl = (await standalone.listen()).url;
    // The standalone responder (no HSM) loads what it serves from the database on first use.
    await waitFor(async () => (await ocspAsk(standaloneUrl, t.chain.issuingDer, cached)).certStatus === 'good', 10_000, 'the standalone responder serving the cached serial');
    expect(await ocspAsk(standaloneUrl, t.chain.issuingDer, orphan)).toMatchObject({ responseStatus: 0, certStatus: 'revoked' });
    const never = '1bcdef0123456789abcdef0123456789'; // positive (a negative INTEGER is answered unknown without a lookup)

    await databaseDown();
    for (const [name, url] of [
      ['the CA', t.url],
      ['the standalone responder', standaloneUrl],
    ] as const) {
      const good = await ocspAsk(url, t.chain.issuingDer, cached);
      expect(good, `${name}: the cached answer`).toMatchObject({ httpStatus: 200, responseStatus: 0, certStatus: 'good' });
      expect(await ocspAsk(url, t.chain.issuingDer, orphan), `${name}: the cached revocation`).toMatchObject({ responseStatus: 0, certStatus: 'revoked' });
      const unknown = await ocspAsk(url, t.chain.issuingDer, never);
      expect(unknown.httpStatus).toBe(200);
      expect(unknown.certStatus, `${name}: a serial never issued`).not.toBe('good');
      expect(unknown.responseStatus, `${name}: a serial it cannot look up`).toBe(3); // tryLater
      expect(unknown.ms, `${name}: answered at once`).toBeLessThan(7000);
    }

    await databaseUp();
    const fresh = await issueRecorded(t.url, token, ledger, next('ocsp-after'));
    expect(fresh.status).toBe(201);
    await waitFor(async () => (await ocspAsk(t.url, t.chain.issuingDer, fresh.body.serial)).certStatus === 'good', 15_000, 'OCSP good for a certificate issued after the database returned');
    const unknownAfter = await ocspAsk(t.url, t.chain.issuingDer, never);
    expect(unknownAfter).toMatchObject({ responseStatus: 0, certStatus: 'unknown' });
    await ledger.check(db.knex, 'OCSP responder loses the database');
  }, 120_000);
});
