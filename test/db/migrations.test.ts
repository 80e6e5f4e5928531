import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMigrationFiles, migrateLatest, migrateRollbackAll, migrationStatus } from '../../ca/db/migrate.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

const TABLES = ['api_client_certificates', 'api_clients', 'audit_anchors', 'audit_log', 'certificate_authorities', 'certificates', 'crls', 'ocsp_responses', 'revocations', 'service_certificates', 'timestamps'];
const HEX64 = 'ab'.repeat(32);
const DAY = 86_400_000;

let db: TestDatabase;
let knex: Knex;

beforeAll(async () => {
  db = await freshDatabase();
  knex = db.knex;
});
afterAll(async () => {
  await db?.drop();
});

/** The error a statement fails with; fails the test if it succeeds. */
async function failure(query: PromiseLike<unknown>): Promise<{ code?: string; constraint?: string; message: string }> {
  try {
    await query;
  } catch (err) {
    return err as { code?: string; constraint?: string; message: string };
  }
  throw new Error('expected the statement to fail, but it succeeded');
}

async function tables(): Promise<string[]> {
  const rows: { table_name: string }[] = await knex('information_schema.tables')
    .where({ table_schema: knex.raw('current_schema()') })
    .whereNotIn('table_name', ['knex_migrations', 'knex_migrations_lock'])
    .select('table_name');
  return rows.map((r) => r.table_name).sort();
}

async function insertCa(name: string): Promise<number> {
  const [row] = await knex('certificate_authorities')
    // One active issuer at a time and one row per key: test CAs are superseded issuers with keys of their own.
    .insert({ name, subject_dn: `CN=${name}`, certificate_der: Buffer.from([0x30, 0]), spki_sha256: createHash('sha256').update(name).digest('hex'), key_uri: `pkcs11:object=${name}`, status: 'superseded' })
    .returning('id');
  return row.id;
}

async function insertClient(name: string): Promise<number> {
  const [row] = await knex('api_clients').insert({ name, token_hash: `hash-${name}`, grants: { profiles: ['server'] } }).returning('id');
  return row.id;
}

function certificate(caId: number, serial: string, extra: Record<string, unknown> = {}) {
  const now = Date.now();
  return knex('certificates').insert({
    ca_id: caId,
    serial,
    tbs_der: Buffer.from([0x30, 0]),
    subject_dn: 'CN=example.test',
    sans: JSON.stringify(['example.test']),
    profile: 'server',
    spki_sha256: HEX64,
    not_before: new Date(now),
    not_after: new Date(now + 90 * DAY),
    ...extra,
  });
}

function crl(caId: number, crlNumber: number | string) {
  const now = Date.now();
  return knex('crls').insert({
    ca_id: caId,
    crl_number: crlNumber,
    this_update: new Date(now),
    next_update: new Date(now + DAY),
    crl_der: Buffer.from([0x30, 0]),
  });
}

describe('migrations', () => {
  it('migrateLatest applies every migration and creates every table', async () => {
    const files = listMigrationFiles().map((m) => m.name);
    expect(files.length).toBeGreaterThan(0);
    expect(await migrateLatest(knex)).toEqual(files);
    expect(await migrationStatus(knex)).toEqual({ completed: files, pending: [] });
    expect(await tables()).toEqual(TABLES);
    expect(await migrateLatest(knex)).toEqual([]);
  });

  describe('certificates', () => {
    let caA: number;
    let caB: number;
    beforeAll(async () => {
      caA = await insertCa('ca-a');
      caB = await insertCa('ca-b');
    });

    it('refuses a serial already used by the same CA, allows it under another CA', async () => {
      await certificate(caA, '1f');
      const err = await failure(certificate(caA, '1f'));
      expect(err.code).toBe('23505');
      expect(err.constraint).toBe('certificates_serial_unique');
      await expect(certificate(caB, '1f')).resolves.toBeDefined();
    });

    it('refuses a reused idempotency key per client, not across clients', async () => {
      const alice = await insertClient('alice');
      const bob = await insertClient('bob');
      await certificate(caA, '20', { client_id: alice, idempotency_key: 'k1' });
      const err = await failure(certificate(caA, '21', { client_id: alice, idempotency_key: 'k1' }));
      expect(err.code).toBe('23505');
      expect(err.constraint).toBe('certificates_idempotency_unique');
      await expect(certificate(caA, '22', { client_id: bob, idempotency_key: 'k1' })).resolves.toBeDefined();
      expect((await failure(certificate(caA, '23', { idempotency_key: 'k2' }))).code).toBe('23514');
    });

    it('keeps status and signed certificate consistent, and serials lowercase hex', async () => {
      expect((await failure(certificate(caA, '30', { status: 'issued' }))).code).toBe('23514');
      expect((await failure(certificate(caA, '31', { certificate_der: Buffer.from([1]) }))).code).toBe('23514');
      expect((await failure(certificate(caA, 'ABC'))).code).toBe('23514');
      const issued = { status: 'issued', certificate_der: Buffer.from([0x30, 0]), issued_at: new Date() };
      await expect(certificate(caA, '32', issued)).resolves.toBeDefined();
    });
  });

  describe('audit_log', () => {
    beforeAll(async () => {
      await knex('audit_log').insert({ actor: 'test', action: 'ca.init', subject: 'ca-a', details: {}, hash: 'h1' });
    });

    it('refuses UPDATE, DELETE and TRUNCATE', async () => {
      expect((await failure(knex('audit_log').update({ actor: 'mallory' }))).message).toMatch(/append-only: UPDATE/);
      expect((await failure(knex('audit_log').del())).message).toMatch(/append-only: DELETE/);
      expect((await failure(knex.raw('TRUNCATE audit_log'))).message).toMatch(/append-only: TRUNCATE/);
      expect(await knex('audit_log').select('actor', 'hash')).toEqual([{ actor: 'test', hash: 'h1' }]);
    });

    it('still accepts appends', async () => {
      await knex('audit_log').insert({ actor: 'test', action: 'ca.sign', details: { n: 1 }, prev_hash: 'h1', hash: 'h2' });
      expect(await knex('audit_log').count({ n: '*' })).toEqual([{ n: 2 }]);
    });
  });

  describe('crls', () => {
    let ca: number;
    beforeAll(async () => {
      ca = await insertCa('ca-crl');
      await crl(ca, 1);
      await crl(ca, 2);
    });

    it('refuses a CRL number not greater than every earlier one for the CA', async () => {
      const repeat = await failure(crl(ca, 2));
      expect(repeat.code).toBe('23514');
      expect(repeat.constraint).toBe('crls_numbers_only_increase');
      expect((await failure(crl(ca, 1))).code).toBe('23514');
      await expect(crl(ca, 3)).resolves.toBeDefined();
      await expect(crl(await insertCa('ca-crl-other'), 1)).resolves.toBeDefined();
    });

    it('accepts numbers up to 20 octets and stores them exactly', async () => {
      const big = '730750818665451459101842416358141509827966271487'; // 2^159 - 1
      await crl(ca, big);
      expect(await knex('crls').where({ ca_id: ca }).max({ n: 'crl_number' })).toEqual([{ n: big }]);
      expect((await failure(crl(await insertCa('ca-crl-huge'), `${big.slice(0, -1)}8`))).code).toBe('23514');
    });

    it('never lets the latest CRL go, nor renumbers one', async () => {
      const latest = await knex('crls').where({ ca_id: ca }).max({ n: 'crl_number' }).first();
      expect((await failure(knex('crls').where({ ca_id: ca, crl_number: latest?.n }).del())).code).toBe('23514');
      expect((await failure(knex('crls').where({ ca_id: ca }).del())).code).toBe('23514');
      expect((await failure(knex('crls').where({ ca_id: ca, crl_number: 1 }).update({ crl_number: 0 }))).code).toBe('23514');
      expect(await knex('crls').where({ ca_id: ca, crl_number: 1 }).del()).toBe(1);
      expect((await failure(crl(ca, 1))).code).toBe('23514');
    });

    // Needs two connections: PGlite has only one.
    it.runIf(Boolean(process.env.DATABASE_URL))('orders concurrent inserts: the later commit cannot go backwards', async () => {
      const other = await insertCa('ca-crl-race');
      const first = await knex.transaction();
      try {
        await first('crls').insert({ ca_id: other, crl_number: 6, this_update: new Date(), next_update: new Date(Date.now() + DAY), crl_der: Buffer.from([0]) });
        const second = crl(other, 5).then(
          () => undefined,
          (err: { code?: string }) => err,
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        await first.commit();
        expect((await second)?.code).toBe('23514');
      } finally {
        if (!first.isCompleted()) await first.rollback();
      }
    });
  });

  it('migrateRollbackAll removes every table, and migrating again works', async () => {
    const files = listMigrationFiles().map((m) => m.name);
    expect(await migrateRollbackAll(knex)).toEqual([...files].reverse());
    expect(await tables()).toEqual([]);
    const functions = await knex('pg_proc').whereIn('proname', ['crls_numbers_only_increase', 'audit_log_append_only', 'ocsp_responses_guard', 'tsa_records_append_only']).select('proname');
    expect(functions).toEqual([]);
    expect(await migrationStatus(knex)).toEqual({ completed: [], pending: files });
    expect(await migrateLatest(knex)).toEqual(files);
    expect(await tables()).toEqual(TABLES);
  });
});
