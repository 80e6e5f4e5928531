import type { Knex } from 'knex';

/*
 * Pre-signed OCSP responses, one per certificate and CertID hash algorithm, so that responders with no HSM access
 * can serve them and every responder can answer from memory. `revision` comes from one sequence on every insert
 * and update: a responder process asks "what changed since revision N" to refresh its cache.
 * A revoked response is final: the row refuses to go back to another status, so a background refresh that read
 * the status before a revocation can never overwrite the revoked answer.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE SEQUENCE ocsp_response_revision`);
  await knex.raw(`
    CREATE TABLE ocsp_responses (
      certificate_id bigint NOT NULL REFERENCES certificates (id),
      hash_algorithm text NOT NULL CHECK (hash_algorithm IN ('sha1', 'sha256')),
      cert_status text NOT NULL CHECK (cert_status IN ('good', 'revoked', 'unknown')),
      response_der bytea NOT NULL,
      produced_at timestamptz NOT NULL,
      this_update timestamptz NOT NULL,
      next_update timestamptz NOT NULL,
      -- When a background refresh should sign it again (half of the window by default).
      refresh_at timestamptz NOT NULL,
      responder_id bigint NOT NULL REFERENCES service_certificates (id),
      revision bigint NOT NULL DEFAULT nextval('ocsp_response_revision'),
      PRIMARY KEY (certificate_id, hash_algorithm),
      CONSTRAINT ocsp_responses_window CHECK (next_update > this_update)
    )`);
  await knex.raw('CREATE INDEX ocsp_responses_revision_idx ON ocsp_responses (revision)');
  await knex.raw('CREATE INDEX ocsp_responses_refresh_idx ON ocsp_responses (refresh_at)');
  await knex.raw(`
    CREATE FUNCTION ocsp_responses_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.cert_status = 'revoked' AND NEW.cert_status <> 'revoked' THEN
        RETURN NULL; -- silently keep the revoked answer
      END IF;
      NEW.revision := nextval('ocsp_response_revision');
      RETURN NEW;
    END $$`);
  await knex.raw(`CREATE TRIGGER ocsp_responses_guard BEFORE INSERT OR UPDATE ON ocsp_responses FOR EACH ROW EXECUTE FUNCTION ocsp_responses_guard()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE ocsp_responses');
  await knex.raw('DROP FUNCTION ocsp_responses_guard()');
  await knex.raw('DROP SEQUENCE ocsp_response_revision');
}
