import type { Knex } from 'knex';

// One revocation per certificate. removeFromCRL is left out: it is a delta-CRL entry, never a reason to revoke.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE revocations (
      certificate_id bigint PRIMARY KEY REFERENCES certificates (id),
      revoked_at timestamptz NOT NULL,
      reason text NOT NULL CHECK (reason IN (
        'unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded',
        'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn', 'aACompromise'
      )),
      invalidity_date timestamptz,
      revoked_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE revocations');
}
