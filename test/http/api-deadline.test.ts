/**
 * The /v1 API answers within http.deadlineMs whatever it waits for. A connection of the test holds
 * the lock the request needs next (PostgreSQL: another session's locks are what a stuck database or a paused
 * process looks like to the CA), and the answer must be a 503 at the deadline — then, once the lock is released,
 * what the late work did must be what the documentation says:
 *
 *   held at authentication (api_clients)  → 503; nothing reserved, nothing signed
 *   held at the reservation (certificates) → 503; the reservation, once through, closed as failed; never signed
 *   held at the commit (the audit lock)    → 503; the certificate signed before the deadline is committed anyway,
 *                                            and the same Idempotency-Key returns it
 *   requests answered late keep their place until their work stops: past http.maxInFlight, 503 at once
 *   a view held (certificates)             → 503
 *   a revocation held (revocations)        → 503; the revocation goes through late, and asking again answers 200
 *                                            with it
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_LOCK_KEY } from '../../ca/db/audit-store.ts';
import { csrFor, GRANTS, rowsFor, waitFor, type TestCsr } from '../fault/scenarios/support.ts';
import { call, startTestCa, type IssueAnswer, type TestCa } from './fixture.ts';

const DEADLINE_MS = 1500;
const MAX_IN_FLIGHT = 2;

describe.skipIf(!process.env.DATABASE_URL)('API deadline (PostgreSQL: locks held by another session)', () => {
  let t: TestCa;
  let token: string;
  let admin: pg.Client;
  let issued: string;
  let n = 0;
  const next = (what: string) => csrFor(`deadline-${what}-${++n}`);
  const post = (csr: TestCsr, headers: Record<string, string> = {}) =>
    call<IssueAnswer>(`${t.url}/v1/certificates`, { method: 'POST', token, json: { csr: csr.pem, profile: 'tls-server' }, headers });

  /** Runs `during` while `lock` is held in a transaction of the test's own, then rolls it back. */
  async function holding<T>(lock: string, during: () => Promise<T>): Promise<T> {
    await admin.query('BEGIN');
    try {
      await admin.query(lock);
      return await during();
    } finally {
      await admin.query('ROLLBACK');
    }
  }

  function expectLate503(r: Awaited<ReturnType<typeof post>>) {
    expect(r.status, JSON.stringify(r.body)).toBe(503);
    expect(r.body.error?.code).toBe('unavailable');
    expect(r.body.certificate).toBeUndefined();
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    // At the deadline: not before it (the work was not refused for another reason), not long after it.
    expect(r.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(r.ms).toBeLessThan(DEADLINE_MS + 1500);
  }

  beforeAll(async () => {
    t = await startTestCa('deadline', { config: { http: { deadlineMs: DEADLINE_MS, maxInFlight: MAX_IN_FLIGHT } } });
    token = await t.client('svc', GRANTS);
    admin = new pg.Client({ connectionString: t.db.url });
    await admin.connect();
    expect((await post(next('warm'))).status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await admin?.end();
    await t?.close();
  });

  it('held at authentication: 503 at the deadline; nothing reserved, nothing signed', async () => {
    const csr = next('auth');
    const before = await t.counters();
    const r = await holding('LOCK TABLE api_clients IN ACCESS EXCLUSIVE MODE', () => post(csr));
    expectLate503(r);
    // The late work goes on once the lock is gone: it must stop before the reservation.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await rowsFor(t.db.knex, csr)).toEqual([]);
    expect(await t.counters()).toEqual(before);
  });

  it('held at the reservation: 503 at the deadline; the reservation, once through, is closed as failed and never signed', async () => {
    const csr = next('reserve');
    const signs = t.pool.signs;
    const r = await holding('LOCK TABLE certificates IN EXCLUSIVE MODE', () => post(csr));
    expectLate503(r);
    const { value: rows } = await waitFor(async () => {
      const rows = await rowsFor(t.db.knex, csr);
      return rows.length === 1 && rows[0]!.status !== 'reserved' ? rows : undefined;
    }, 10_000, 'the late reservation closed');
    expect(rows).toEqual([expect.objectContaining({ status: 'failed', hasDer: false })]);
    expect(t.pool.signs).toBe(signs);
  });

  it('held at the commit: 503 at the deadline; the certificate signed before it is committed, and the Idempotency-Key returns it', async () => {
    const csr = next('commit');
    const key = `deadline-commit-${n}`;
    const r = await holding(`SELECT pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`, () => post(csr, { 'Idempotency-Key': key }));
    expectLate503(r);
    const { value: rows } = await waitFor(async () => {
      const rows = await rowsFor(t.db.knex, csr);
      return rows.length === 1 && rows[0]!.status === 'issued' ? rows : undefined;
    }, 10_000, 'the late commit');
    const again = await post(csr, { 'Idempotency-Key': key });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.serial).toBe(rows[0]!.serial);
  });

  it('answered late, requests keep their place until their work stops: the next is refused at capacity at once', async () => {
    const csrs = [next('full'), next('full')];
    const { late, atCapacity } = await holding('LOCK TABLE api_clients IN ACCESS EXCLUSIVE MODE', async () => {
      const late = await Promise.all(csrs.map((c) => post(c)));
      return { late, atCapacity: await post(next('refused')) };
    });
    for (const r of late) expectLate503(r);
    expect(atCapacity.status).toBe(503);
    expect(atCapacity.body.error?.message).toMatch(/capacity/);
    expect(atCapacity.ms).toBeLessThan(500);
    // Their work ends once the lock is gone (before the reservation: past the deadline), and the places are free.
    await waitFor(async () => (await post(next('freed'))).status === 201, 10_000, 'a place freed');
    for (const c of csrs) expect(await rowsFor(t.db.knex, c)).toEqual([]);
  });

  it('after all that, a new request is issued at once', async () => {
    const r = await post(next('after'));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.ms).toBeLessThan(DEADLINE_MS);
    issued = r.body.serial;
  });

  it('a view held: 503 at the deadline', async () => {
    const r = await holding('LOCK TABLE certificates IN ACCESS EXCLUSIVE MODE', () => call<IssueAnswer>(`${t.url}/v1/certificates/${issued}`, { token }));
    expectLate503(r);
    expect((await call<{ status: string }>(`${t.url}/v1/certificates/${issued}`, { token })).body.status).toBe('issued');
  });

  it('a revocation held: 503 at the deadline; it goes through late, and asking again answers 200 with it', async () => {
    const revoke = () => call<IssueAnswer & { status?: string; revocation?: { revokedAt: string; reason: string } }>(`${t.url}/v1/certificates/${issued}/revoke`, { method: 'POST', token, json: { reason: 'keyCompromise' } });
    const r = await holding('LOCK TABLE revocations IN EXCLUSIVE MODE', revoke);
    expectLate503(r);
    const { value: revokedAt } = await waitFor(async () => (await call<{ revocation: { revokedAt: string } | null }>(`${t.url}/v1/certificates/${issued}`, { token })).body.revocation?.revokedAt, 10_000, 'the late revocation');
    const again = await revoke();
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body).toMatchObject({ status: 'revoked', revocation: { revokedAt, reason: 'keyCompromise' } });
  });
});
