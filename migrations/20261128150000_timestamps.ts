import type { Knex } from 'knex';

/*
 * The time-stamp authority's records. Every token issued is a row of `timestamps` (committed before the token is
 * returned); serials come from the sequence `timestamp_serial`, reserved in batches by each instance, so they are
 * unique across restarts and concurrent instances (a reserved batch left unused at a restart is a gap, never a
 * repeat). `audit_anchors` holds the TSA tokens over audit-log heads: each proves the log held that entry, with that
 * hash, at that time. Both tables are append-only, like audit_log.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE SEQUENCE timestamp_serial AS bigint START WITH 1 NO CYCLE');
  await knex.raw(`
    CREATE TABLE timestamps (
      serial bigint PRIMARY KEY CHECK (serial > 0),
      gen_time timestamptz NOT NULL,
      policy text NOT NULL CHECK (policy ~ '^[0-2](\\.[0-9]+)+$'),
      hash_algorithm text NOT NULL CHECK (hash_algorithm IN ('sha256', 'sha384', 'sha512')),
      imprint bytea NOT NULL CHECK (octet_length(imprint) IN (32, 48, 64)),
      -- The request's nonce as INTEGER contents octets (echoed exactly), null when it had none.
      nonce bytea,
      -- SHA-256 of the TSA certificate that signed: which identity, across renewals.
      tsa_cert_sha256 text NOT NULL CHECK (tsa_cert_sha256 ~ '^[0-9a-f]{64}$'),
      -- The TimeStampToken (CMS ContentInfo), DER, as returned but without the certificates field (not signed;
      -- the certificate is the one named by tsa_cert_sha256).
      token_der bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
  await knex.raw(`
    CREATE TABLE audit_anchors (
      id bigserial PRIMARY KEY,
      -- The audit-log head that was time-stamped: the token's message imprint is the entry hash (SHA-256).
      seq bigint NOT NULL CHECK (seq > 0),
      head_hash text NOT NULL CHECK (head_hash ~ '^[0-9a-f]{64}$'),
      tsa_serial bigint NOT NULL REFERENCES timestamps (serial),
      gen_time timestamptz NOT NULL,
      token_der bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
  await knex.raw('CREATE INDEX audit_anchors_seq_idx ON audit_anchors (seq)');
  await knex.raw(`
    CREATE FUNCTION tsa_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
    END
    $$`);
  for (const table of ['timestamps', 'audit_anchors']) {
    await knex.raw(`CREATE TRIGGER ${table}_no_update_delete BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION tsa_records_append_only()`);
    await knex.raw(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION tsa_records_append_only()`);
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE audit_anchors');
  await knex.raw('DROP TABLE timestamps');
  await knex.raw('DROP FUNCTION tsa_records_append_only()');
  await knex.raw('DROP SEQUENCE timestamp_serial');
}
