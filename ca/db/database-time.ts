/** The database server's clock, the reference of the drift clock check (ca/clock/clock-check.ts). */
import type { Knex } from 'knex';

/** clock_timestamp(): the moment of the call, not of the transaction. */
export async function databaseTime(db: Knex): Promise<Date> {
  const { rows } = (await db.raw(`SELECT (extract(epoch from clock_timestamp()) * 1000)::float8 AS ms`)) as { rows: { ms: number | string }[] };
  return new Date(Number(rows[0]!.ms));
}
