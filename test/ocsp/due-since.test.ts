// OcspStore.dueSince finds, without looking at every certificate, what due() would find apart from missing answers
// at or below the watermark (the periodic sweep's part); presignWatermark stops below issuances in flight and below
// rows that may still be committing. Rows are written directly: the store reads the tables, not the services.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OcspStore } from '../../ocsp/db/ocsp-store.ts';
import { migratedDatabase } from '../audit/audit-support.ts';
import type { TestDatabase } from '../support/database.ts';

describe('OcspStore.dueSince and presignWatermark', () => {
  let db: TestDatabase;
  let store: OcspStore;
  const now = new Date();
  const ids: Record<string, number> = {};

  const certificate = async (name: string, o: { status?: string; notAfterDays?: number; createdSecondsAgo?: number } = {}) => {
    const status = o.status ?? 'issued';
    const signed = status === 'issued' || status === 'revoked';
    const [row] = (await db
      .knex('certificates')
      .insert({
        ca_id: 1,
        serial: (Object.keys(ids).length + 1).toString(16),
        status,
        tbs_der: Buffer.from([1]),
        certificate_der: signed ? Buffer.from([0x30, 0]) : null,
        issued_at: signed ? now : null,
        subject_dn: `CN=${name}`,
        profile: 'tls-server',
        spki_sha256: 'b'.repeat(64),
        not_before: new Date(now.getTime() - 86_400_000 * 100),
        not_after: new Date(now.getTime() + 86_400_000 * (o.notAfterDays ?? 90)),
        created_at: new Date(Date.now() - 1000 * (o.createdSecondsAgo ?? 3600)),
      })
      .returning('id')) as { id: string | number }[];
    ids[name] = Number(row!.id);
    return ids[name]!;
  };
  const answer = async (name: string, o: { status?: string; refreshInDays?: number } = {}) => {
    await db.knex('ocsp_responses').insert({
      certificate_id: ids[name],
      hash_algorithm: 'sha1',
      cert_status: o.status ?? 'good',
      response_der: Buffer.from([0x30, 0]),
      produced_at: now,
      this_update: now,
      next_update: new Date(now.getTime() + 4 * 86_400_000),
      refresh_at: new Date(now.getTime() + 86_400_000 * (o.refreshInDays ?? 2)),
      responder_id: 1,
    });
  };
  const revoke = (name: string) => db.knex('revocations').insert({ certificate_id: ids[name], revoked_at: now, reason: 'keyCompromise', revoked_by: 'test' });
  const names = (rows: { certificateId: number }[]) => rows.map((r) => Object.keys(ids).find((k) => ids[k] === r.certificateId)).sort();

  let watermark: number;
  beforeAll(async () => {
    db = await migratedDatabase();
    store = new OcspStore(db.knex);
    await db.knex.raw(`INSERT INTO certificate_authorities (name, subject_dn, certificate_der, spki_sha256, key_uri, status) VALUES ('ca', 'CN=ca', '\\x3000', repeat('a', 64), 'pkcs11:object=ca', 'active')`);
    await certificate('responder');
    await db.knex.raw(`INSERT INTO service_certificates (ca_id, purpose, key_label, key_id, key_type, spki_der, spki_sha256, certificate_id, certificate_der, not_before, not_after) VALUES (1, 'ocsp', 'l', 'ab', 'ec-p256', '\\x30', repeat('c', 64), ?, '\\x30', now() - interval '1 day', now() + interval '30 days')`, [ids.responder!]);
    await answer('responder');
    // Below the watermark:
    await certificate('old-answered');
    await answer('old-answered');
    await certificate('old-missing'); // the sweep's part
    await certificate('old-refresh-due');
    await answer('old-refresh-due', { refreshInDays: -1 });
    await certificate('old-revoked-out-of-step');
    await answer('old-revoked-out-of-step');
    await revoke('old-revoked-out-of-step');
    await certificate('old-revoked-missing', { status: 'failed' }); // failed after signing, then revoked
    await revoke('old-revoked-missing');
    await certificate('old-expired-missing', { notAfterDays: -1 });
    watermark = ids['old-expired-missing']!;
    // After it:
    await certificate('new-missing');
    await certificate('new-failed-missing', { status: 'failed' });
    await certificate('new-answered');
    await answer('new-answered');
    await certificate('new-reserved', { status: 'reserved' });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('dueSince: missing answers after the watermark; refreshes and revocations out of step wherever they are', async () => {
    expect(names(await store.dueSince(now, 100, watermark))).toEqual(['new-failed-missing', 'new-missing', 'old-refresh-due', 'old-revoked-missing', 'old-revoked-out-of-step']);
  });

  it('due (the sweep) also finds the missing answer below the watermark', async () => {
    expect(names(await store.due(now, 100))).toEqual(['new-failed-missing', 'new-missing', 'old-missing', 'old-refresh-due', 'old-revoked-missing', 'old-revoked-out-of-step']);
  });

  it('dueSince honours its limit, in certificate order', async () => {
    const first = await store.dueSince(now, 2, watermark);
    expect(first.map((r) => r.certificateId)).toEqual([ids['old-refresh-due'], ids['old-revoked-out-of-step']]);
  });

  it('presignWatermark: below an issuance in flight; past orphaned reservations; short of rows that may still be committing', async () => {
    const o = { settleSeconds: 5, lifetimeSeconds: 600 };
    // 'new-reserved' was created an hour ago: an orphan, not in flight.
    expect(await store.presignWatermark(0, o)).toBe(ids['new-reserved']);
    const inFlight = await certificate('in-flight', { status: 'reserved', createdSecondsAgo: 30 });
    await certificate('after-in-flight');
    expect(await store.presignWatermark(0, o)).toBe(inFlight - 1);
    // Only reservations after afterId hold it back.
    expect(await store.presignWatermark(inFlight, o)).toBe(ids['after-in-flight']);
    await db.knex('certificates').where('id', inFlight).update({ status: 'failed' });
    expect(await store.presignWatermark(0, o)).toBe(ids['after-in-flight']);
    // Rows younger than settleSeconds are not counted yet (a lower id may still be uncommitted).
    const fresh = await certificate('just-now', { createdSecondsAgo: 1 });
    expect(await store.presignWatermark(0, o)).toBe(fresh - 1);
    expect(await store.presignWatermark(0, { ...o, settleSeconds: 0 })).toBe(fresh);
  });
});
