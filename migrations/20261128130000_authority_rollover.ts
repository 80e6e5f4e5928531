import type { Knex } from 'knex';

/*
 * Issuer rollover: several CAs at once. 'active' issues new certificates; 'superseded' no longer issues but keeps
 * signing CRLs (and OCSP) for what it issued until that expires; 'retired' signs nothing. The chain (issuer
 * certificates above this CA, PEM) travels with every issued certificate.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE certificate_authorities ADD COLUMN chain_pem text NOT NULL DEFAULT ''`);
  await knex.raw(`ALTER TABLE certificate_authorities ADD COLUMN not_before timestamptz`);
  await knex.raw(`ALTER TABLE certificate_authorities ADD COLUMN not_after timestamptz`);
  await knex.raw(`ALTER TABLE certificate_authorities DROP CONSTRAINT certificate_authorities_status_check`);
  await knex.raw(`ALTER TABLE certificate_authorities ADD CONSTRAINT certificate_authorities_status_check CHECK (status IN ('active', 'superseded', 'retired'))`);
  // One issuer of new certificates at a time.
  await knex.raw(`CREATE UNIQUE INDEX certificate_authorities_one_active ON certificate_authorities ((true)) WHERE status = 'active'`);
  // The same certificate is imported once.
  await knex.raw(`CREATE UNIQUE INDEX certificate_authorities_spki_unique ON certificate_authorities (spki_sha256)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX certificate_authorities_spki_unique`);
  await knex.raw(`DROP INDEX certificate_authorities_one_active`);
  await knex.raw(`UPDATE certificate_authorities SET status = 'retired' WHERE status = 'superseded'`);
  await knex.raw(`ALTER TABLE certificate_authorities DROP CONSTRAINT certificate_authorities_status_check`);
  await knex.raw(`ALTER TABLE certificate_authorities ADD CONSTRAINT certificate_authorities_status_check CHECK (status IN ('active', 'retired'))`);
  await knex.raw(`ALTER TABLE certificate_authorities DROP COLUMN not_after`);
  await knex.raw(`ALTER TABLE certificate_authorities DROP COLUMN not_before`);
  await knex.raw(`ALTER TABLE certificate_authorities DROP COLUMN chain_pem`);
}
