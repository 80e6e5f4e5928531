/**
 * One issuer of a service certificate at a time, across processes: whoever holds the lock for (purpose, issuer)
 * re-reads the current row and issues only if there is still none, so two processes ensuring at once issue once.
 *
 * PostgreSQL: a transaction-scoped advisory lock (pg_advisory_xact_lock, two-int4 key space, so it never meets the
 * audit log's one-int8 key), held by a transaction that stays open while `fn` runs; `fn` does its own work on other
 * pooled connections (the reservation must commit before the HSM signs, so it cannot join this transaction).
 * PGlite has one connection — a held transaction would block `fn`'s queries — and one process by design (no file
 * lock), so there the in-process queue below is the whole lock. It applies on PostgreSQL too, so a process never
 * spends several connections waiting on itself.
 */
import type { Knex } from 'knex';
import { PgliteClient } from './pglite-client.ts';

/** "SRsv" as an int4: the first half of every service-certificate lock key. */
const LOCK_CLASS = 0x53527376;

const queuesByDb = new WeakMap<Knex, Map<string, Promise<unknown>>>();

export async function withServiceCertificateLock<T>(db: Knex, purpose: string, caId: number, fn: () => Promise<T>): Promise<T> {
  const name = `${purpose}:${caId}`;
  let queues = queuesByDb.get(db);
  if (!queues) queuesByDb.set(db, (queues = new Map()));
  const previous = queues.get(name) ?? Promise.resolve();
  const mine = previous.catch(() => undefined).then(() => (db.client instanceof PgliteClient ? fn() : advisoryLocked(db, name, fn)));
  queues.set(name, mine);
  try {
    return await mine;
  } finally {
    if (queues.get(name) === mine) queues.delete(name);
  }
}

async function advisoryLocked<T>(db: Knex, name: string, fn: () => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?::int4, hashtext(?))', [LOCK_CLASS, name]);
    return fn();
  });
}
