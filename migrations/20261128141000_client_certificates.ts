import type { Knex } from 'knex';

/*
 * Client certificates that authenticate an API client over HTTPS, as a bearer token does. A binding is explicit (an
 * operator's act): an API client granted tls-client issues certificates for its own workloads, and those must not
 * speak for the client. One certificate authenticates at most one client; the certificate's own row (status,
 * revocation, validity) decides whether it still does.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE api_client_certificates (
      certificate_id bigint PRIMARY KEY REFERENCES certificates (id),
      client_id bigint NOT NULL REFERENCES api_clients (id),
      created_at timestamptz NOT NULL DEFAULT now(),
      created_by text NOT NULL
    )`);
  await knex.raw('CREATE INDEX api_client_certificates_client_idx ON api_client_certificates (client_id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE api_client_certificates');
}
