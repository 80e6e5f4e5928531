import type { Knex } from 'knex';

/*
 * Delta CRLs (RFC 5280 §5.2.4) live in `crls` beside the complete ones: `delta_base` is the number of the complete
 * CRL a delta adds to, null for a complete CRL. Both kinds take their numbers from the one sequence per CA that
 * crls_numbers_only_increase already guards (§5.2.3: a delta and a complete CRL issued together share a number's
 * order), so nothing changes there. A delta's base is always an earlier number of the same CA's complete CRLs.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE crls ADD COLUMN delta_base numeric(48, 0) CHECK (delta_base > 0 AND delta_base < crl_number)`);
  await knex.raw('CREATE INDEX crls_complete_idx ON crls (ca_id, crl_number DESC) WHERE delta_base IS NULL');
}

/*
 * Without the column a delta would read as a complete CRL, and deleting the deltas would let their numbers be
 * taken again: once a delta has been published, there is no going back.
 */
export async function down(knex: Knex): Promise<void> {
  const { rows } = (await knex.raw('SELECT count(*)::int AS n FROM crls WHERE delta_base IS NOT NULL')) as { rows: { n: number }[] };
  if (rows[0]!.n > 0) throw new Error(`${rows[0]!.n} delta CRLs have been published; their numbers cannot be given back`);
  await knex.raw('DROP INDEX crls_complete_idx');
  await knex.raw('ALTER TABLE crls DROP COLUMN delta_base');
}
