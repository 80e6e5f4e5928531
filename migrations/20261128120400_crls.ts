import type { Knex } from 'knex';

/*
 * CRL numbers only ever increase per CA (RFC 5280 5.2.3): relying parties drop a CRL whose number is not above the
 * one they hold. Enforced here, not only in the app: a restored backup or a second process cannot step back.
 * At most 20 octets, so below 2^159 as a positive INTEGER.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE crls (
      id bigserial PRIMARY KEY,
      ca_id bigint NOT NULL REFERENCES certificate_authorities (id),
      crl_number numeric(48, 0) NOT NULL CHECK (crl_number >= 0 AND crl_number < power(2::numeric, 159)),
      this_update timestamptz NOT NULL,
      next_update timestamptz NOT NULL,
      crl_der bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT crls_number_unique UNIQUE (ca_id, crl_number),
      CONSTRAINT crls_update_order CHECK (next_update > this_update)
    )`);
  // Deleting old CRLs is allowed, but never the newest of a CA: it is the high-water mark the next number must beat.
  await knex.raw(`
    CREATE FUNCTION crls_numbers_only_increase() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        -- Serialise CRL inserts per CA so concurrent writers cannot commit numbers out of order. NO KEY UPDATE
        -- does not block certificate inserts, whose foreign-key check only takes KEY SHARE on the CA row.
        PERFORM 1 FROM certificate_authorities WHERE id = NEW.ca_id FOR NO KEY UPDATE;
        IF EXISTS (SELECT 1 FROM crls WHERE ca_id = NEW.ca_id AND crl_number >= NEW.crl_number) THEN
          RAISE EXCEPTION 'CRL number % for CA % is not greater than every earlier one', NEW.crl_number, NEW.ca_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'crls_numbers_only_increase', TABLE = 'crls';
        END IF;
        RETURN NEW;
      ELSIF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'a CRL''s ca_id and crl_number never change'
          USING ERRCODE = 'check_violation', CONSTRAINT = 'crls_numbers_only_increase', TABLE = 'crls';
      END IF;
      IF NOT EXISTS (SELECT 1 FROM crls WHERE ca_id = OLD.ca_id AND crl_number > OLD.crl_number) THEN
        RAISE EXCEPTION 'CRL number % is the latest for CA % and cannot be deleted', OLD.crl_number, OLD.ca_id
          USING ERRCODE = 'check_violation', CONSTRAINT = 'crls_numbers_only_increase', TABLE = 'crls';
      END IF;
      RETURN OLD;
    END
    $$`);
  await knex.raw(`
    CREATE TRIGGER crls_numbers_only_increase
      BEFORE INSERT OR DELETE OR UPDATE OF ca_id, crl_number ON crls
      FOR EACH ROW EXECUTE FUNCTION crls_numbers_only_increase()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE crls');
  await knex.raw('DROP FUNCTION crls_numbers_only_increase()');
}
