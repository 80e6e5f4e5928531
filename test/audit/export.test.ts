// exportAudit: JSON lines a SIEM can check on its own, in seq order, by range.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditExportError, AuditLog, exportAudit, GENESIS_HASH, head, type AuditEntry, type AuditEvent } from '../../ca/audit/index.ts';
import { canonicalJson } from '../../ca/encoding/canonical-json.ts';
import type { TestDatabase } from '../support/database.ts';
import { migratedDatabase, onPostgres, tamper } from './audit-support.ts';

let db: TestDatabase;
let knex: Knex;
const appended: AuditEntry[] = [];

beforeAll(async () => {
  db = await migratedDatabase();
  knex = db.knex;
  const log = new AuditLog(knex);
  const events: AuditEvent[] = [
    { actor: 'operator', action: 'ca.import', subject: 'issuing-ca-1', details: { spki: 'ab'.repeat(32), validityDays: 3650 } },
    { actor: 'build-bot', action: 'certificate.issue', subject: '7f3a', details: { profile: 'tls-server', sans: ['svc.dev.internal', 'xn--bcher-kva.example'] } },
    { actor: 'ünïcödé 😀', action: 'client.add', details: { grants: { profiles: ['tls-client'], dns: ['*.svc.internal'] }, note: 'line\nbreak "quoted"', n: -42, ok: true, none: null } },
    { actor: 'operator', action: 'certificate.revoke', subject: '7f3a', details: { reason: 'keyCompromise' } },
    { actor: 'system', action: 'crl.publish', subject: 'issuing-ca-1', details: { crlNumber: '12345678901234567890' } },
  ];
  for (const e of events) appended.push(await log.append(e));
});
afterAll(async () => {
  await db?.drop();
});

async function lines(range: { fromSeq?: number; toSeq?: number } = {}, batchSize?: number): Promise<string[]> {
  const out: string[] = [];
  const r = await exportAudit(knex, range, (l) => void out.push(l), batchSize ? { batchSize } : {});
  expect(r.rows).toBe(out.length);
  return out;
}

describe(`exportAudit (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('writes one canonical JSON line per entry, equal to what append returned', async () => {
    const out = await lines();
    expect(out).toHaveLength(appended.length);
    out.forEach((line, i) => {
      expect(line).not.toContain('\n');
      const parsed = JSON.parse(line) as AuditEntry;
      expect(canonicalJson(parsed)).toBe(line);
      expect(parsed).toEqual(appended[i]);
    });
  });

  it('lets a consumer re-derive every hash and link from the lines alone', async () => {
    let prev = GENESIS_HASH;
    for (const line of await lines()) {
      const { hash, ...content } = JSON.parse(line) as AuditEntry;
      expect(content.prevHash).toBe(prev);
      expect(createHash('sha256').update(canonicalJson(content)).digest('hex')).toBe(hash);
      prev = hash;
    }
    expect(prev).toBe((await head(knex)).hash);
  });

  it('exports a range, inclusive at both ends, whatever the batch size', async () => {
    const all = await lines();
    expect(await lines({ fromSeq: 2, toSeq: 4 })).toEqual(all.slice(1, 4));
    expect(await lines({ fromSeq: 4 })).toEqual(all.slice(3));
    expect(await lines({ toSeq: 2 })).toEqual(all.slice(0, 2));
    expect(await lines({ fromSeq: 3, toSeq: 3 })).toEqual([all[2]]);
    expect(await lines({ fromSeq: 99 })).toEqual([]);
    for (const batchSize of [1, 2, 3]) expect(await lines({}, batchSize)).toEqual(all);
  });

  it('awaits the writer, one line at a time', async () => {
    const seen: number[] = [];
    let writing = false;
    await exportAudit(knex, {}, async (line) => {
      expect(writing).toBe(false);
      writing = true;
      await new Promise((resolve) => setTimeout(resolve, 5));
      seen.push((JSON.parse(line) as AuditEntry).seq);
      writing = false;
    });
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses an inverted or non-integer range', async () => {
    await expect(exportAudit(knex, { fromSeq: 4, toSeq: 2 }, () => undefined)).rejects.toThrow(AuditExportError);
    await expect(exportAudit(knex, { fromSeq: 1.5 }, () => undefined)).rejects.toThrow(/fromSeq must be an integer/);
  });

  it('exports a tampered row as it is stored, so the consumer sees the hash fail', async () => {
    await tamper(knex, (t) => t.raw(`UPDATE audit_log SET at = at + interval '1 microsecond', details = '{"n": 1.5}' WHERE seq = 5`));
    const line = (await lines({ fromSeq: 5 }))[0]!;
    const { hash, ...content } = JSON.parse(line) as AuditEntry;
    expect(content.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(content.details).toEqual({ n: 1.5 });
    expect(createHash('sha256').update(canonicalJson(content)).digest('hex')).not.toBe(hash);
  });
});
