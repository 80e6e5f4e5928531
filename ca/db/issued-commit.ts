/**
 * The commit of signed certificates (reserved → issued) with their audit entries, in one transaction. Through knex
 * that transaction is six statements, each a write and a round trip of its own: BEGIN, the UPDATE, the audit lock,
 * the head, the INSERT, COMMIT. Here it is two of each (pipelined-statements.ts):
 *
 *   1. BEGIN, the UPDATE, the lock, the head — then the audit rows are built on that head, under the lock;
 *   2. the INSERT and COMMIT.
 *
 * Same statements, same order, same lock held across the same reads as appendLockedMany (audit-store.ts): only the
 * waiting between them is gone. Any failure ends with ROLLBACK before the connection goes back to the pool.
 */
import type { Knex } from 'knex';
import type pg from 'pg';
import { AUDIT_HEAD_SQL, AUDIT_LOCK_SQL, auditInsert, checkIsolation, headOf, type ChainHead, type NewAuditRow } from './audit-store.ts';
import type { ConnectionSource } from './pg-wire.ts';
import { PipelinedStatements, type Statement } from './pipelined-statements.ts';

export interface IssuedItem {
  id: number;
  der: Uint8Array;
  issuedAt: Date;
}

/** The UPDATE that marks `items` issued (only rows still reserved), with knex's `?` placeholders. */
export function issuedUpdate(items: readonly IssuedItem[]): { sql: string; values: (number | Buffer | Date)[] } {
  return {
    sql: `UPDATE certificates AS c SET status = 'issued', certificate_der = v.der, issued_at = v.issued_at
           FROM (VALUES ${items.map(() => '(?::bigint, ?::bytea, ?::timestamptz)').join(', ')}) AS v(id, der, issued_at)
          WHERE c.id = v.id AND c.status = 'reserved'
          RETURNING c.id`,
    values: items.flatMap((i) => [i.id, Buffer.from(i.der.buffer, i.der.byteOffset, i.der.byteLength), i.issuedAt]),
  };
}

export function checkIssuedCount(expected: number, updated: number): void {
  if (updated !== expected) throw new Error(`${expected - updated} of ${expected} certificates are not reserved`);
}

/** knex's `?` placeholders numbered for the wire, as knex itself sends them ($1, $2 …). */
function native(db: Knex, q: { sql: string; values: readonly unknown[] }): Statement {
  const n = db.raw(q.sql, q.values as Knex.RawBinding[]).toSQL().toNative();
  return { text: n.sql, values: n.bindings };
}

export async function commitIssued(db: Knex, items: readonly IssuedItem[], build: (head: ChainHead, at: string) => NewAuditRow[]): Promise<void> {
  const update = native(db, issuedUpdate(items));
  const pool = db.client as ConnectionSource;
  const conn = await pool.acquireConnection();
  let open = true;
  try {
    const [, updated, lock, head] = await run(conn, [{ text: 'BEGIN' }, update, { text: AUDIT_LOCK_SQL }, { text: AUDIT_HEAD_SQL }]);
    checkIssuedCount(items.length, updated!.rowCount);
    checkIsolation(lock!.rows[0]![1]!);
    const [seq, hash, now] = head!.rows[0]!;
    const { head: chainHead, at } = headOf({ seq: seq ?? null, hash: hash ?? null, now: now! });
    const rows = build(chainHead, at);
    const statements: Statement[] = rows.length > 0 ? [native(db, auditInsert(rows)), { text: 'COMMIT' }] : [{ text: 'COMMIT' }];
    // COMMIT answers ROLLBACK, not an error, when the transaction had failed: only COMMIT's own tag says it held.
    const done = await run(conn, statements);
    open = false;
    if (done[done.length - 1]!.command !== 'COMMIT') throw new Error(`the issuance commit ended in ${done[done.length - 1]!.command}`);
  } catch (e) {
    if (open) await conn.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    await pool.releaseConnection(conn);
  }
}

function run(conn: pg.Client, statements: Statement[]) {
  return conn.query(new PipelinedStatements(statements)).done;
}
