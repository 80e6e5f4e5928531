import type { Knex } from 'knex';

/*
 * Certificates the CA issues to its own services, each with a key the CA generated in the online HSM: the delegated
 * OCSP responder of each issuer, the TSA, the HTTPS server of the enrollment API. A service uses its newest row that
 * is valid now; older rows stay until they expire so that answers already signed keep verifying, then are retired
 * (and their keys destroyed). Responders with no HSM read the rows only to serve what was pre-signed.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE service_certificates (
      id bigserial PRIMARY KEY,
      ca_id bigint NOT NULL REFERENCES certificate_authorities (id),
      purpose text NOT NULL CHECK (purpose IN ('ocsp', 'tsa', 'https')),
      -- The private key in the online token: CKA_LABEL and CKA_ID (lowercase hex).
      key_label text NOT NULL,
      key_id text NOT NULL CHECK (key_id ~ '^[0-9a-f]+$'),
      key_type text NOT NULL,
      spki_der bytea NOT NULL,
      spki_sha256 text NOT NULL CHECK (spki_sha256 ~ '^[0-9a-f]{64}$'),
      -- The issued certificate's row: its serial, status and revocation live there like any other certificate's.
      certificate_id bigint NOT NULL UNIQUE REFERENCES certificates (id),
      certificate_der bytea NOT NULL,
      not_before timestamptz NOT NULL,
      not_after timestamptz NOT NULL,
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT service_certificates_validity CHECK (not_after > not_before)
    )`);
  await knex.raw('CREATE INDEX service_certificates_purpose_ca_idx ON service_certificates (purpose, ca_id, status, not_after)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE service_certificates');
}
