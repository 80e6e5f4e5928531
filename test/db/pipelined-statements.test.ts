// Several statements in one write: results in order, one implicit transaction up to the Sync (a failure rolls back
// what ran before it and nothing after it runs), parameters as text, bytea and NULL, and the connection in step after.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionSource } from '../../ca/db/pg-wire.ts';
import { PipelinedStatements, type Statement } from '../../ca/db/pipelined-statements.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

describe.runIf(process.env.DATABASE_URL)('PipelinedStatements (PostgreSQL)', () => {
  let db: TestDatabase;
  let conn: pg.Client;
  beforeAll(async () => {
    db = await freshDatabase();
    await db.knex.raw('CREATE TABLE t (id int PRIMARY KEY CHECK (id > 0), b bytea, note text)');
    conn = await (db.knex.client as ConnectionSource).acquireConnection();
  });
  afterAll(async () => {
    if (conn) await (db.knex.client as ConnectionSource).releaseConnection(conn);
    await db?.drop();
  });

  const send = (...statements: Statement[]) => conn.query(new PipelinedStatements(statements)).done;
  const ids = async () => (await conn.query('SELECT id FROM t ORDER BY id')).rows.map((r: { id: number }) => r.id);
  /** Writes to the socket (syscalls), not stream.write() calls: those are corked into one. */
  const writes = async (fn: () => Promise<unknown>) => {
    const socket = (conn as unknown as { connection: { stream: Record<'_write' | '_writev', (...a: unknown[]) => unknown> } }).connection.stream;
    const saved = { _write: socket._write, _writev: socket._writev };
    let n = 0;
    for (const k of ['_write', '_writev'] as const) {
      socket[k] = function (this: unknown, ...a: unknown[]) {
        n++;
        return saved[k].apply(this, a);
      };
    }
    try {
      await fn();
    } finally {
      Object.assign(socket, saved);
    }
    return n;
  };

  it('answers every statement in order: command, row count, rows as text; Buffers travel as bytea, null as NULL', async () => {
    const r = await send(
      { text: 'INSERT INTO t (id, b, note) VALUES ($1::int, $2::bytea, $3::text), ($4::int, $5::bytea, $6::text) RETURNING id', values: ['1', Buffer.from([0, 1, 0xff]), 'one', '2', null, null] },
      { text: "UPDATE t SET note = 'two' WHERE id = $1::int", values: ['2'] },
      { text: "SELECT id, encode(b, 'hex') AS hex, note FROM t ORDER BY id" },
    );
    expect(r).toEqual([
      { command: 'INSERT', rowCount: 2, rows: [['1'], ['2']] },
      { command: 'UPDATE', rowCount: 1, rows: [] },
      { command: 'SELECT', rowCount: 2, rows: [['1', '0001ff', 'one'], ['2', null, 'two']] },
    ]);
  });

  it('goes out in one write, however many statements', async () => {
    expect(await writes(() => send({ text: 'SELECT 1' }, { text: 'SELECT 2' }, { text: 'SELECT 3' }, { text: 'SELECT 4' }))).toBe(1);
    // What pg.Client.query() does per statement, for comparison: a write each.
    expect(await writes(async () => (await conn.query('SELECT $1::int AS x', [1]), await conn.query('SELECT $1::int AS x', [2])))).toBe(2);
  });

  it('without BEGIN the statements up to the Sync are one transaction: a failure rolls back what ran before it, and nothing after it runs', async () => {
    await expect(
      send(
        { text: 'INSERT INTO t (id) VALUES (10)' },
        { text: 'INSERT INTO t (id) VALUES (-11)' }, // the CHECK refuses it
        { text: 'INSERT INTO t (id) VALUES (12)' },
      ),
    ).rejects.toMatchObject({ code: '23514' });
    expect(await ids()).toEqual([1, 2]);
    // In step: the next statements are answered as theirs, and the session is not left inside a transaction.
    expect((await conn.query('SELECT 42 AS x')).rows).toEqual([{ x: 42 }]);
    expect((await conn.query("SELECT current_setting('transaction_isolation') AS i, txid_current_if_assigned() AS tx")).rows).toEqual([{ i: 'read committed', tx: null }]);
  });

  it('inside an explicit transaction the failure leaves the block aborted for the caller to roll back', async () => {
    await expect(send({ text: 'BEGIN' }, { text: 'INSERT INTO t (id) VALUES (20)' }, { text: 'SELECT 1/0' })).rejects.toMatchObject({ code: '22012' });
    await expect(conn.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await conn.query('ROLLBACK');
    expect(await ids()).toEqual([1, 2]);
  });

  it('a malformed statement (a parse error) rejects and leaves the connection in step', async () => {
    await expect(send({ text: 'SELECT 1' }, { text: 'SELEKT 2' })).rejects.toMatchObject({ code: '42601' });
    expect((await send({ text: 'SELECT $1::text AS x', values: ['ok'] }))[0]!.rows).toEqual([['ok']]);
  });

  it('COPY is refused before anything is sent (copy-in mode would swallow what follows)', () => {
    expect(() => new PipelinedStatements([{ text: 'SELECT 1' }, { text: ' copy t (id) FROM STDIN' }])).toThrow(/COPY cannot be sent/);
  });

  it('a COPY FROM STDIN it did not recognise (behind a comment) is refused, not left waiting for data', async () => {
    await expect(send({ text: '/* x */ COPY t (id) FROM STDIN' })).rejects.toThrow(/no data is sent with pipelined statements/);
    expect((await conn.query('SELECT 7 AS x')).rows).toEqual([{ x: 7 }]);
    expect(await ids()).toEqual([1, 2]);
  });

  it('an empty batch is a programming error', () => {
    expect(() => new PipelinedStatements([])).toThrow(/no statements/);
  });

  it("clears pg's query_timeout timer when it settles: no late error for statements that succeeded", async () => {
    const client = new pg.Client({ connectionString: db.url, query_timeout: 150 });
    await client.connect();
    try {
      const late: unknown[] = [];
      client.on('error', (e) => late.push(e));
      const results = await client.query(new PipelinedStatements([{ text: 'SELECT 1' }, { text: 'SELECT 2' }])).done;
      expect(results).toHaveLength(2);
      await new Promise((r) => setTimeout(r, 300));
      expect(late).toEqual([]);
      expect((await client.query('SELECT 3 AS x')).rows).toEqual([{ x: 3 }]);
    } finally {
      await client.end();
    }
  });
});
