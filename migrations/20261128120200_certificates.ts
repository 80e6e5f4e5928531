import type { Knex } from 'knex';

/*
 * A row is written as 'reserved' (serial taken, TBS recorded) before the HSM signs, so a serial is never reused
 * even if signing fails or the process dies mid-way; it then becomes 'issued' or 'failed'.
 * Serials: lowercase hex, at most 20 octets (RFC 5280 4.1.2.2); leading-zero normalisation is the app's job.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE certificates (
      id bigserial PRIMARY KEY,
      ca_id bigint NOT NULL REFERENCES certificate_authorities (id),
      serial text NOT NULL CHECK (serial ~ '^[0-9a-f]{1,40}$'),
      status text NOT NULL DEFAULT 'reserved' CHECK (status IN ('reserved', 'issued', 'revoked', 'failed')),
      tbs_der bytea NOT NULL,
      certificate_der bytea,
      subject_dn text NOT NULL,
      sans jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(sans) = 'array'),
      profile text NOT NULL,
      client_id bigint REFERENCES api_clients (id),
      idempotency_key text,
      csr_sha256 text CHECK (csr_sha256 ~ '^[0-9a-f]{64}$'),
      spki_sha256 text NOT NULL CHECK (spki_sha256 ~ '^[0-9a-f]{64}$'),
      not_before timestamptz NOT NULL,
      not_after timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      issued_at timestamptz,
      CONSTRAINT certificates_serial_unique UNIQUE (ca_id, serial),
      -- NULL client_id (CLI issuance) never collides; a key without a client could not be deduplicated anyway.
      CONSTRAINT certificates_idempotency_unique UNIQUE (client_id, idempotency_key),
      CONSTRAINT certificates_idempotency_needs_client CHECK (idempotency_key IS NULL OR client_id IS NOT NULL),
      CONSTRAINT certificates_validity CHECK (not_after > not_before),
      -- A signed certificate exists exactly when the row says one was issued.
      CONSTRAINT certificates_der_matches_status CHECK (
        CASE WHEN status IN ('issued', 'revoked') THEN certificate_der IS NOT NULL AND issued_at IS NOT NULL
             ELSE certificate_der IS NULL END
      )
    )`);
  // Issuance refuses keys already revoked for keyCompromise: looked up by key, across CAs.
  await knex.raw('CREATE INDEX certificates_spki_sha256_idx ON certificates (spki_sha256)');
  // CRL and expiry scans: "revoked and not yet expired, for this CA".
  await knex.raw('CREATE INDEX certificates_ca_status_not_after_idx ON certificates (ca_id, status, not_after)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE certificates');
}
