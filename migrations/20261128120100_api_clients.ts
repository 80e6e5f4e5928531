import type { Knex } from 'knex';

// Only a hash of the bearer token is stored: a database dump must not hand out issuance rights.
// The shape of grants (profiles, name patterns) is validated by the app; here only that it is an object.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE api_clients (
      id bigserial PRIMARY KEY,
      name text NOT NULL UNIQUE,
      token_hash text NOT NULL UNIQUE,
      grants jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(grants) = 'object'),
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE api_clients');
}
