// The database going away mid-flight (simulated by destroying the service's knex pool): 503 fast; before the
// serial is reserved the HSM is never called; after it, the serial stays reserved — listed as orphaned, revocable,
// and on the next CRL once revoked. Then the HSM going away: readiness turns red and issuance answers 503 without
// taking a serial.
import { generateKeyPairSync } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../ca/audit/index.ts';
import { CertificateStore } from '../../ca/db/certificate-store.ts';
import { buildCsr, cnName, extensionRequest, gn, pem, san } from '../csr/support.ts';
import { call, issue, reopen, startTestCa, type TestCa } from '../http/fixture.ts';
import { revokedSerials, waitForCrl } from '../http/crl-support.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

const csr = () => pem(buildCsr({ keyPair: generateKeyPairSync('ec', { namedCurve: 'P-256' }), subject: cnName('d.svc.internal'), attributes: extensionRequest(san(gn.dns('d.svc.internal'))) }));

describe('database stopped mid-flight', () => {
  let db: TestDatabase;
  let first: TestCa;
  let second: TestCa | undefined;
  let knex2: Knex | undefined;
  let token: string;
  let admin: string;
  let issuedSerial: string;
  let reservedSerial: string | undefined;

  beforeAll(async () => {
    db = await freshDatabase();
    first = await startTestCa('db-down', { db });
    token = await first.client('svc', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
    admin = await first.client('ops', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] }, admin: true });
    await waitForCrl(first, 1n);
  });
  afterAll(async () => {
    await first?.close().catch(() => undefined);
    await second?.close().catch(() => undefined);
    await knex2?.destroy().catch(() => undefined);
    await db?.drop();
  });

  it('works before the database goes away', async () => {
    const r = await issue(first, token, { csr: csr(), profile: 'tls-server' });
    expect(r.status).toBe(201);
    issuedSerial = r.body.serial;
  });

  it('the database goes away after the serial is reserved (during the HSM call) → 503; the serial stays reserved', async () => {
    first.pool.before = async (req) => {
      if (req.priority === 'normal') await db.knex.destroy();
    };
    const signsBefore = first.pool.signs;
    const r = await issue(first, token, { csr: csr(), profile: 'tls-server' });
    first.pool.before = undefined;
    expect(r.status).toBe(503);
    expect(r.body.error!.code).toBe('unavailable');
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(first.pool.signs).toBe(signsBefore + 1);
  });

  it('with the database gone: 503 at once, the HSM is never called, readiness is red', async () => {
    const signsBefore = first.pool.signs;
    const r = await issue(first, token, { csr: csr(), profile: 'tls-server' });
    expect(r.status).toBe(503);
    expect(r.body.error!.code).toBe('unavailable');
    expect(r.ms).toBeLessThan(2000);
    expect(first.pool.signs).toBe(signsBefore);
    // Reading, revoking and authenticating need the database too: 503, never 500 and never 401.
    expect((await call(`${first.url}/v1/certificates/${issuedSerial}`, { token })).status).toBe(503);
    const ready = await call(`${first.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ready: false, database: 'unavailable', hsm: { ready: true } });
    expect((await call(`${first.url}/healthz`)).status).toBe(200);
    // The CRL already published is still served from memory.
    expect((await call(`${first.url}/crl/issuing-ca.crl`)).status).toBe(200);
  });

  it('after restart: the half-issued serial is listed as orphaned, can be revoked, and appears on the CRL', async () => {
    await first.close();
    knex2 = await reopen(db);
    // Clients' certificates: the CA's own (its OCSP responder's, issued at start) are not part of this story.
    const rows = (await knex2('certificates').whereNotNull('client_id').select('serial', 'status').orderBy('id')) as { serial: string; status: string }[];
    expect(rows.map((r) => r.status)).toEqual(['issued', 'reserved']);
    expect(rows[0]!.serial).toBe(issuedSerial);
    reservedSerial = rows[1]!.serial;
    const orphans = await new CertificateStore(knex2).orphanedReservations(new Date(Date.now() + 1000));
    expect(orphans.map((o) => o.serial)).toEqual([reservedSerial]);

    second = await startTestCa('db-down', { chain: first.chain, db: { ...db, knex: knex2 }, noImport: true });
    // CRL 1 is still fresh: a restart does not publish another before it is due.
    await waitForCrl(second, 1n);
    const r = await call<{ status: string; revocation: { reason: string } }>(`${second.url}/v1/certificates/${reservedSerial}/revoke`, { method: 'POST', token: admin, json: { reason: 'unspecified' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'reserved', revocation: { reason: 'unspecified' } });
    const crl = await waitForCrl(second, 2n);
    expect(revokedSerials(crl)).toEqual([reservedSerial]);
    expect((await verifyAudit(knex2)).ok).toBe(true);
  });

  it('the HSM goes away: readiness red, issuance 503 without taking a serial', async () => {
    const t = second!;
    const before = await t.counters();
    await t.ca.pool.close();
    const ready = await call(`${t.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(ready.body).toMatchObject({ ready: false, hsm: { ready: false }, database: 'ok' });
    const r = await issue(t, token, { csr: csr(), profile: 'tls-server' });
    expect(r.status).toBe(503);
    expect(r.body.error!.code).toBe('unavailable');
    expect(await t.counters()).toEqual(before);
  });
});
