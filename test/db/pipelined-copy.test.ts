// A COPY sent whole, data and all, before the server has said it is ready for the data: rows arrive, a refused row
// takes the batch with it, and a COPY the server refuses before copy-in starts leaves the connection in step — the
// CopyData and CopyDone that followed are ignored by the server, not read as the next query's answer.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BinaryCopyWriter } from '../../ca/db/binary-copy.ts';
import type { ConnectionSource } from '../../ca/db/pg-wire.ts';
import { PipelinedCopy } from '../../ca/db/pipelined-copy.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

describe.runIf(process.env.DATABASE_URL)('PipelinedCopy (PostgreSQL)', () => {
  let db: TestDatabase;
  let conn: pg.Client;
  beforeAll(async () => {
    db = await freshDatabase();
    await db.knex.raw('CREATE TABLE t (id int PRIMARY KEY CHECK (id > 0), b bytea NOT NULL)');
    conn = await (db.knex.client as ConnectionSource).acquireConnection();
  });
  afterAll(async () => {
    if (conn) await (db.knex.client as ConnectionSource).releaseConnection(conn);
    await db?.drop();
  });

  const rows = (...ids: number[]) => {
    const w = new BinaryCopyWriter();
    for (const id of ids) w.row(2).int4(id).bytea(Buffer.alloc(Math.abs(id) % 7, Math.abs(id)));
    return w.end();
  };
  const ids = async () => (await conn.query('SELECT id FROM t ORDER BY id')).rows.map((r: { id: number }) => r.id);

  it('copies every row and reports the count', async () => {
    expect(await conn.query(new PipelinedCopy('COPY t (id, b) FROM STDIN (FORMAT binary)', rows(1, 2, 3))).done).toBe(3);
    expect(await ids()).toEqual([1, 2, 3]);
    const { rows: got } = await conn.query('SELECT b FROM t WHERE id = 3');
    expect(Buffer.from(got[0].b).equals(Buffer.alloc(3, 3))).toBe(true);
  });

  it('a refused row rolls the whole batch back', async () => {
    await expect(conn.query(new PipelinedCopy('COPY t (id, b) FROM STDIN (FORMAT binary)', rows(4, -5))).done).rejects.toMatchObject({ code: '23514' });
    expect(await ids()).toEqual([1, 2, 3]);
  });

  it.each([
    ['a table that does not exist', 'COPY nowhere (id, b) FROM STDIN (FORMAT binary)', '42P01', 20],
    ['a column that does not exist', 'COPY t (id, nope) FROM STDIN (FORMAT binary)', '42703', 21],
  ])('refused before copy-in (%s): rejects, and the connection answers the next queries in step', async (_n, sql, code, next) => {
    await expect(conn.query(new PipelinedCopy(sql, rows(10, 11))).done).rejects.toMatchObject({ code });
    expect((await conn.query('SELECT 42 AS x')).rows).toEqual([{ x: 42 }]);
    expect(await conn.query(new PipelinedCopy('COPY t (id, b) FROM STDIN (FORMAT binary)', rows(next))).done).toBe(1);
    expect((await ids()).slice(-1)).toEqual([next]);
  });

  it("clears pg's query_timeout timer when it settles: no late error for a copy that succeeded", async () => {
    const client = new pg.Client({ connectionString: db.url, query_timeout: 150 });
    await client.connect();
    try {
      let errors = 0;
      class Counted extends PipelinedCopy {
        override handleError(e: unknown): void {
          errors++;
          super.handleError(e);
        }
      }
      expect(await client.query(new Counted('COPY t (id, b) FROM STDIN (FORMAT binary)', rows(30))).done).toBe(1);
      await new Promise((r) => setTimeout(r, 300));
      expect(errors).toBe(0);
      expect((await client.query('SELECT 1 AS x')).rows).toEqual([{ x: 1 }]);
    } finally {
      await client.end();
    }
  });
});
