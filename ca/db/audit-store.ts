/**
 * Data access for the audit log (table audit_log, migrations/20261128120500_audit_log.ts). The hash chain itself is
 * computed by ca/audit/; this module only serialises appends and reads rows back exactly as stored.
 *
 * Serialising appends: every append takes a transaction-scoped advisory lock (pg_advisory_xact_lock on
 * AUDIT_LOCK_KEY) before it reads the head, and holds it until its transaction ends. So, across any number of
 * processes and connections, the next append reads the head only after the previous one has committed or rolled
 * back: seqs are gapless (seq = head + 1 is assigned here, not by the bigserial sequence, which a rolled-back
 * transaction would leave with a hole) and rows become visible in seq order. The lock is held until the caller's
 * COMMIT when the append takes part in a caller's transaction: append last, then commit.
 */
import type { Knex } from 'knex';

/** A database handle (knex) as the audit service sees it; opaque outside ca/db/. */
export type AuditDb = Knex;
/** A caller's open transaction that an append can take part in. */
export type AuditTrx = Knex.Transaction;

/** Advisory lock key for audit appends: ASCII "SRaudit1" as a signed 64-bit integer. */
export const AUDIT_LOCK_KEY = 0x5352_6175_6469_7431n;

/** A row as stored, read without any lossy conversion. */
export interface StoredAuditRow {
  /** bigint column: a number when safe (it always is for rows we write), a BigInt beyond 2^53. */
  seq: number | bigint;
  /** `at` in UTC as YYYY-MM-DDTHH:MM:SS.ffffff (microseconds, as PostgreSQL stores it), no zone suffix. */
  atMicros: string;
  actor: unknown;
  action: unknown;
  subject: unknown;
  details: unknown;
  prevHash: unknown;
  hash: unknown;
}

export interface NewAuditRow {
  seq: number;
  /** ISO 8601 UTC with milliseconds: YYYY-MM-DDTHH:MM:SS.mmmZ. */
  at: string;
  actor: string;
  action: string;
  subject: string | null;
  /** The details as canonical JSON text (stored as jsonb). */
  detailsJson: string;
  prevHash: string;
  hash: string;
}

export interface ChainHead {
  /** 0 when the log is empty. */
  seq: number;
  /** The last row's hash; undefined when the log is empty. */
  hash: string | undefined;
}

export class AuditStoreError extends Error {
  override readonly name = 'AuditStoreError';
}

// UTC, microsecond resolution: a value with sub-millisecond digits is visible as such rather than rounded away.
const AT_TEXT = `to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`;
const COLUMNS = `seq, ${AT_TEXT} AS at_micros, actor, action, subject, details, prev_hash, hash`;

/**
 * Runs `build` under the append lock, with the current head and the database clock truncated to milliseconds,
 * and inserts the row it returns. In `trx` when given (the row commits or rolls back with the caller's work),
 * else in a transaction of its own.
 */
export async function appendLocked(db: AuditDb, trx: AuditTrx | undefined, build: (head: ChainHead, at: string) => NewAuditRow): Promise<NewAuditRow> {
  const [row] = await appendLockedMany(db, trx, (head, at) => [build(head, at)]);
  return row!;
}

// The append's statements, shared by appendLockedMany and the pipelined group commit (issued-commit.ts).
/** Takes the append lock; answers the transaction's isolation, which must be READ COMMITTED (checkIsolation). */
export const AUDIT_LOCK_SQL = `SELECT pg_advisory_xact_lock(${AUDIT_LOCK_KEY}::bigint) AS locked, current_setting('transaction_isolation') AS isolation`;
/** The head and the database clock truncated to milliseconds: a statement of its own, after the lock. */
export const AUDIT_HEAD_SQL = `
      SELECT h.seq, h.hash,
             to_char(date_trunc('milliseconds', clock_timestamp()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS now
        FROM (SELECT 1) AS one LEFT JOIN (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS h ON true`;

/** The INSERT of `rows`, with knex's `?` placeholders. */
export function auditInsert(rows: readonly NewAuditRow[]): { sql: string; values: (string | number | null)[] } {
  return {
    sql: `INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES ${rows.map(() => '(?, ?::timestamptz, ?, ?, ?, ?::jsonb, ?, ?)').join(', ')}`,
    values: rows.flatMap((row) => [row.seq, row.at, row.actor, row.action, row.subject, row.detailsJson, row.prevHash, row.hash]),
  };
}

export function checkIsolation(isolation: string): void {
  // A REPEATABLE READ / SERIALIZABLE snapshot may predate the lock and miss the entry committed just before.
  if (isolation !== 'read committed') {
    throw new AuditStoreError(`audit entries are appended in READ COMMITTED transactions only (this one is ${isolation.toUpperCase()}): its snapshot could miss the latest entry`);
  }
}

/** AUDIT_HEAD_SQL's row (seq as pg's bigint parser or the wire's text gives it) → the head and the new rows' time. */
export function headOf(r: { seq: number | string | bigint | null; hash: string | null; now: string }): { head: ChainHead; at: string } {
  const seq = r.seq === null ? 0 : Number(r.seq);
  if (!Number.isSafeInteger(seq)) throw new AuditStoreError(`audit_log head seq ${r.seq} is beyond 2^53`);
  return { head: { seq, hash: r.hash ?? undefined }, at: r.now };
}

/**
 * appendLocked for several rows at once (group commit): one lock, one head read, one INSERT. `build` returns the
 * rows in chain order, the first linking to `head`, each next one to the one before (seq + 1 each).
 */
export async function appendLockedMany(db: AuditDb, trx: AuditTrx | undefined, build: (head: ChainHead, at: string) => NewAuditRow[]): Promise<NewAuditRow[]> {
  const run = async (t: Knex.Transaction): Promise<NewAuditRow[]> => {
    const lock = await t.raw(AUDIT_LOCK_SQL);
    checkIsolation((lock.rows[0] as { isolation: string }).isolation);
    // Under READ COMMITTED this statement's snapshot includes every earlier append.
    const { rows } = await t.raw(AUDIT_HEAD_SQL);
    const { head, at } = headOf(rows[0] as { seq: number | bigint | null; hash: string | null; now: string });
    const built = build(head, at);
    if (built.length === 0) return built;
    const insert = auditInsert(built);
    await t.raw(insert.sql, insert.values);
    return built;
  };
  return trx ? run(trx) : db.transaction(run);
}

/** The last row's seq and hash (seq 0 and no hash when the log is empty). */
export async function readChainHead(db: AuditDb | AuditTrx): Promise<ChainHead> {
  const row = (await db('audit_log').select('seq', 'hash').orderBy('seq', 'desc').first()) as { seq: number | bigint; hash: string } | undefined;
  if (!row) return { seq: 0, hash: undefined };
  if (typeof row.seq === 'bigint') throw new AuditStoreError(`audit_log head seq ${row.seq} is beyond 2^53`);
  return { seq: row.seq, hash: row.hash };
}

/**
 * Rows in seq order, `batchSize` at a time (keyset pagination on the primary key: constant memory and an index
 * range scan per batch however long the log is). Rows appended while the scan runs are included.
 */
export async function* streamAuditRows(db: AuditDb, range: { fromSeq?: number; toSeq?: number } = {}, batchSize = 1000): AsyncGenerator<StoredAuditRow> {
  // Everything after `after`: a forged row with seq ≤ 0 is seen too unless the caller asked for a range.
  let after: number | bigint | undefined = range.fromSeq === undefined ? undefined : range.fromSeq - 1;
  for (;;) {
    const q = db('audit_log').select(db.raw(COLUMNS)).orderBy('seq').limit(batchSize);
    if (after !== undefined) q.where('seq', '>', typeof after === 'bigint' ? after.toString() : after);
    if (range.toSeq !== undefined) q.where('seq', '<=', range.toSeq);
    const rows = (await q) as { seq: number | bigint; at_micros: string; actor: unknown; action: unknown; subject: unknown; details: unknown; prev_hash: unknown; hash: unknown }[];
    for (const r of rows) {
      yield { seq: r.seq, atMicros: r.at_micros, actor: r.actor, action: r.action, subject: r.subject, details: r.details, prevHash: r.prev_hash, hash: r.hash };
    }
    if (rows.length < batchSize) return;
    after = rows[rows.length - 1]!.seq;
  }
}
