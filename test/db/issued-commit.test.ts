// The group commit of issued certificates with their audit entries (CertificateStore.markIssuedManyWithAudit): on
// PostgreSQL pipelined in two writes (issued-commit.ts), on PGlite through knex — the same outcome either way: all of
// it commits, chained on the head read under the lock, or none of it does and the connection is clean for the next.
import knex from 'knex';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, verifyAudit } from '../../ca/audit/index.ts';
import { type NewAuditRow } from '../../ca/db/audit-store.ts';
import { AuthorityStore } from '../../ca/db/authority-store.ts';
import { CertificateStore } from '../../ca/db/certificate-store.ts';
import { event, migratedDatabase } from '../audit/audit-support.ts';
import type { TestDatabase } from '../support/database.ts';

describe('markIssuedManyWithAudit', () => {
  let db: TestDatabase;
  let store: CertificateStore;
  let log: AuditLog;
  let caId: number;
  let next = 1;

  beforeAll(async () => {
    db = await migratedDatabase();
    store = new CertificateStore(db.knex);
    log = new AuditLog(db.knex);
    const ca = await new AuthorityStore(db.knex).insert(
      { name: 'ca', subjectDn: 'CN=ca', certificateDer: Uint8Array.of(0x30, 0), chainPem: '', spkiSha256: 'a'.repeat(64), keyUri: 'pkcs11:object=ca', notBefore: new Date(0), notAfter: new Date(4e12) },
      true,
    );
    caId = ca.id;
  });
  afterAll(async () => {
    await db?.drop();
  });

  const reserve = async (n: number) => {
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const serial = (next++).toString(16);
      ids.push(
        await store.reserve({ caId, serial, tbsDer: Uint8Array.of(1), subjectDn: 'CN=x', sans: [], profile: 'tls-server', clientId: null, idempotencyKey: null, csrSha256: null, spkiSha256: 'b'.repeat(64), notBefore: new Date(0), notAfter: new Date(4e12) }),
      );
    }
    return ids;
  };
  const items = (ids: number[]) => ids.map((id) => ({ id, der: Uint8Array.of(0x30, 1, id & 0x7f), issuedAt: new Date('2026-11-29T00:00:00Z') }));
  const statuses = async (ids: number[]) => ((await db.knex('certificates').whereIn('id', ids).orderBy('id').select('status')) as { status: string }[]).map((r) => r.status);
  const auditCount = async () => Number(((await db.knex('audit_log').count('* as n')) as { n: string | number }[])[0]!.n);
  const issueEvents = (ids: number[]) => ids.map((id) => ({ actor: 'test', action: 'certificate.issue', subject: `c${id}`, details: { id: String(id) } }));

  it('commits the certificates and their entries, chained on the head', async () => {
    await log.append(event(1));
    const ids = await reserve(3);
    const entries = await log.appendManyVia(issueEvents(ids), (build) => store.markIssuedManyWithAudit(items(ids), build));
    expect(entries.map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(await statuses(ids)).toEqual(['issued', 'issued', 'issued']);
    const stored = (await db.knex('certificates').where('id', ids[2]!).first('certificate_der')) as { certificate_der: Uint8Array };
    expect([...stored.certificate_der]).toEqual([0x30, 1, ids[2]! & 0x7f]);
    expect((await verifyAudit(db.knex)).ok).toBe(true);
  });

  it('a certificate that is not reserved any more fails the whole group: nothing issued, no entry', async () => {
    const ids = await reserve(3);
    await db.knex('certificates').where('id', ids[1]!).update({ status: 'failed' });
    const before = await auditCount();
    await expect(log.appendManyVia(issueEvents(ids), (build) => store.markIssuedManyWithAudit(items(ids), build))).rejects.toThrow(/1 of 3 certificates are not reserved/);
    expect(await statuses(ids)).toEqual(['reserved', 'failed', 'reserved']);
    expect(await auditCount()).toBe(before);
  });

  it('an entry the table refuses (its seq taken) rolls the certificates back too', async () => {
    const ids = await reserve(2);
    const before = await auditCount();
    const clash = (head: { seq: number }, at: string): NewAuditRow[] => [{ seq: head.seq, at, actor: 'test', action: 'certificate.issue', subject: 'x', detailsJson: '{}', prevHash: '0'.repeat(64), hash: '1'.repeat(64) }];
    await expect(store.markIssuedManyWithAudit(items(ids), clash)).rejects.toMatchObject({ code: '23505' });
    expect(await statuses(ids)).toEqual(['reserved', 'reserved']);
    expect(await auditCount()).toBe(before);
  });

  it('the builder throwing (under the lock) rolls back and releases the lock', async () => {
    const ids = await reserve(1);
    await expect(
      store.markIssuedManyWithAudit(items(ids), () => {
        throw new Error('builder failed');
      }),
    ).rejects.toThrow('builder failed');
    expect(await statuses(ids)).toEqual(['reserved']);
    // The lock went with the rolled-back transaction: the next append does not wait for it.
    const appended = await Promise.race([log.append(event(9)).then(() => 'appended'), new Promise((r) => setTimeout(() => r('stuck'), 3000))]);
    expect(appended).toBe('appended');
  });

  it('after any of those the pool is clean: a group commits again, chained, and the chain verifies', async () => {
    const ids = await reserve(4);
    const entries = await log.appendManyVia(issueEvents(ids), (build) => store.markIssuedManyWithAudit(items(ids), build));
    expect(entries).toHaveLength(4);
    expect(await statuses(ids)).toEqual(['issued', 'issued', 'issued', 'issued']);
    const v = await verifyAudit(db.knex);
    expect(v.ok).toBe(true);
    expect(v).toMatchObject({ ok: true });
  });

  it.runIf(process.env.DATABASE_URL)('refuses to append under REPEATABLE READ (its snapshot could miss the latest entry), and rolls back', async () => {
    // Sessions whose default isolation an administrator changed.
    const rr = knex({ client: 'pg', connection: db.url!, pool: { min: 0, max: 1, afterCreate: (c: pg.Client, done: (e?: Error) => void) => void c.query("SET default_transaction_isolation = 'repeatable read'").then(() => done(), done) } });
    try {
      const ids = await reserve(1);
      const row = (h: { seq: number; hash?: string }, at: string): NewAuditRow[] => [{ seq: h.seq + 1, at, actor: 'a', action: 'b', subject: null, detailsJson: '{}', prevHash: h.hash ?? '0'.repeat(64), hash: '2'.repeat(64) }];
      await expect(new CertificateStore(rr).markIssuedManyWithAudit(items(ids), row)).rejects.toThrow(/READ COMMITTED/);
      expect(await statuses(ids)).toEqual(['reserved']);
      // The refused transaction was rolled back on its connection: the next statement there runs.
      expect((await rr.raw('SELECT 1 AS x')).rows).toEqual([{ x: 1 }]);
    } finally {
      await rr.destroy();
    }
  });
});
