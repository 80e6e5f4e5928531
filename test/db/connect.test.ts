// Both backends must hand the app rows of the same shape, or code tested on PGlite breaks on PostgreSQL.
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrlFromEnv, openPostgres } from '../../ca/db/connect.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

describe('databaseUrlFromEnv', () => {
  it('returns a postgres URL, treats blank as unset, refuses anything else', () => {
    expect(databaseUrlFromEnv({ DATABASE_URL: ' postgres://u@h/db ' })).toBe('postgres://u@h/db');
    expect(databaseUrlFromEnv({ DATABASE_URL: 'postgresql://u@h/db' })).toBe('postgresql://u@h/db');
    expect(databaseUrlFromEnv({ DATABASE_URL: '  ' })).toBeUndefined();
    expect(databaseUrlFromEnv({})).toBeUndefined();
    expect(() => databaseUrlFromEnv({ DATABASE_URL: 'mysql://u@h/db' })).toThrow(/postgres/);
  });
});

describe(`result shapes (${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  let db: TestDatabase;
  let knex: Knex;
  beforeAll(async () => {
    db = await freshDatabase();
    knex = db.knex;
    await knex.raw('CREATE TABLE t (id bigserial PRIMARY KEY, n int NOT NULL DEFAULT 0, big numeric, b bytea)');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('returns bigint as a number when safe, a BigInt beyond 2^53', async () => {
    const [row] = await knex('t').insert({ big: '1' }).returning('id');
    expect(row.id).toBe(1);
    expect(await knex('t').count({ n: '*' })).toEqual([{ n: 1 }]);
    const { rows } = await knex.raw('SELECT 9007199254740993::int8 AS x');
    expect(rows[0].x).toBe(9007199254740993n);
  });

  it('returns numeric as an exact string and bytea as bytes', async () => {
    await knex('t').insert({ big: '12345678901234567890', b: Buffer.from([1, 2]) });
    const row = await knex('t').where({ big: '12345678901234567890' }).first();
    expect(row.big).toBe('12345678901234567890');
    expect(row.b).toBeInstanceOf(Uint8Array);
    expect([...row.b]).toEqual([1, 2]);
  });

  it('resolves update, increment and delete to the affected row count', async () => {
    expect(await knex('t').update({ n: 1 })).toBe(2);
    expect(await knex('t').increment('n', 1)).toBe(2);
    expect(await knex('t').where({ id: 1 }).del()).toBe(1);
  });
});

// A CA process paused inside a transaction (SIGSTOP, a frozen VM) keeps its socket open and its locks held — the
// audit lock every issuance commits under. The server must end such a session once it has been idle too long.
describe.runIf(process.env.DATABASE_URL)('a transaction left idle (PostgreSQL)', () => {
  let db: TestDatabase;
  const opened: Knex[] = [];
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await Promise.all(opened.map((k) => k.destroy()));
    await db?.drop();
  });
  const open = async (options?: { idleInTransactionMs?: number }) => {
    const k = await openPostgres(db.url!, options);
    opened.push(k);
    return k;
  };
  const tryLock = async (key: number) => {
    const { rows } = await db.knex.raw('SELECT pg_try_advisory_lock(?) AS ok', [key]);
    if (rows[0].ok) await db.knex.raw('SELECT pg_advisory_unlock(?)', [key]);
    return rows[0].ok as boolean;
  };

  it('sets 90 s by default on every connection', async () => {
    const k = await open();
    const { rows } = await k.raw('SHOW idle_in_transaction_session_timeout');
    expect(rows[0].idle_in_transaction_session_timeout).toBe('90s');
  });

  it('ends the session once idle that long: its lock is released and the transaction cannot go on', async () => {
    const k = await open({ idleInTransactionMs: 600 });
    const trx = await k.transaction();
    await trx.raw('SELECT pg_advisory_xact_lock(4242)');
    // Held while the transaction is open and not yet idle for long...
    expect(await tryLock(4242)).toBe(false);
    await new Promise((r) => setTimeout(r, 1500));
    // ...released by the server, with no help from the paused client.
    expect(await tryLock(4242)).toBe(true);
    await expect(trx.raw('SELECT 1')).rejects.toThrow();
    await trx.rollback().catch(() => undefined);
    // The pool drops the dead connection: the next query gets a fresh one.
    const { rows } = await k.raw('SELECT 1 AS one');
    expect(rows[0].one).toBe(1);
  });
});
