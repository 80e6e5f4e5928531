// Shared by the audit suites: a migrated fresh database, a chain of entries, and tampering past the triggers.
import type { Knex } from 'knex';
import { AuditLog } from '../../ca/audit/index.ts';
import { migrateLatest } from '../../ca/db/migrate.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

export const onPostgres = Boolean(process.env.DATABASE_URL);

export async function migratedDatabase(): Promise<TestDatabase> {
  const db = await freshDatabase();
  try {
    await migrateLatest(db.knex);
  } catch (e) {
    await db.drop();
    throw e;
  }
  return db;
}

export function event(i: number) {
  return { actor: `client-${i % 3}`, action: i % 2 ? 'certificate.issue' : 'certificate.revoke', subject: `serial-${i.toString(16)}`, details: { n: i, tags: ['a', 'b'], nested: { ok: i % 2 === 0, none: null } } };
}

export async function appendMany(knex: Knex, n: number): Promise<void> {
  const log = new AuditLog(knex);
  for (let i = 1; i <= n; i++) await log.append(event(i));
}

/**
 * Runs `fn` with the append-only triggers off, as a table owner could: the hash chain is what must catch it.
 * One transaction, so the triggers are never left disabled for anyone else.
 */
export async function tamper(knex: Knex, fn: (trx: Knex.Transaction) => Promise<unknown>): Promise<void> {
  await knex.transaction(async (trx) => {
    await trx.raw('ALTER TABLE audit_log DISABLE TRIGGER ALL');
    await fn(trx);
    await trx.raw('ALTER TABLE audit_log ENABLE TRIGGER ALL');
  });
}

/** Renumbers rows: seq → seq + delta for seq in [from, to] (two steps, so the primary key never collides). */
export async function renumber(trx: Knex.Transaction, from: number, to: number, delta: number): Promise<void> {
  await trx.raw('UPDATE audit_log SET seq = -seq WHERE seq BETWEEN ? AND ?', [from, to]);
  await trx.raw('UPDATE audit_log SET seq = -seq + ? WHERE seq < 0', [delta]);
}

/** Exchanges the rows stored at seqs a and b (everything but the seq moves). */
export async function swap(trx: Knex.Transaction, a: number, b: number): Promise<void> {
  await trx.raw('UPDATE audit_log SET seq = 0 WHERE seq = ?', [a]);
  await trx.raw('UPDATE audit_log SET seq = ? WHERE seq = ?', [a, b]);
  await trx.raw('UPDATE audit_log SET seq = ? WHERE seq = 0', [b]);
}

export async function seqs(knex: Knex): Promise<number[]> {
  return ((await knex('audit_log').orderBy('seq').select('seq')) as { seq: number }[]).map((r) => r.seq);
}
