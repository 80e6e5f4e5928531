// Both backends must hand the app rows of the same shape, or code tested on PGlite breaks on PostgreSQL.
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrlFromEnv } from '../../ca/db/connect.ts';
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
