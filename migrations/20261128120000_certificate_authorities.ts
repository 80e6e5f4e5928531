import type { Knex } from 'knex';

// key_uri names the key on the HSM; the private key itself never reaches the database.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE certificate_authorities (
      id bigserial PRIMARY KEY,
      name text NOT NULL UNIQUE,
      subject_dn text NOT NULL,
      certificate_der bytea NOT NULL,
      spki_sha256 text NOT NULL CHECK (spki_sha256 ~ '^[0-9a-f]{64}$'),
      key_uri text NOT NULL CHECK (key_uri LIKE 'pkcs11:%'),
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE certificate_authorities');
}
