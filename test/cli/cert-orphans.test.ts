// `strongroom cert orphans`: reservations an interrupted issuance left behind are listed (older than the threshold,
// never a certificate), and nothing else is; bad arguments are usage errors (exit 2).
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certCommand, parseDuration } from '../../ca/cli/cert-command.ts';
import { EXIT, UsageError } from '../../ca/cli/cli-error.ts';
import { migrateLatest } from '../../ca/db/migrate.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
const MINUTE = 60_000;

beforeAll(async () => {
  db = await freshDatabase();
  await migrateLatest(db.knex);
  const [ca] = (await db.knex('certificate_authorities')
    .insert({ name: 'issuing-x', subject_dn: 'CN=issuing-x', certificate_der: Buffer.from([0x30, 0]), spki_sha256: createHash('sha256').update('x').digest('hex'), key_uri: 'pkcs11:object=x', status: 'superseded' })
    .returning('id')) as { id: number }[];
  const row = (serial: string, status: string, ageMs: number) => ({
    ca_id: ca!.id,
    serial,
    status,
    tbs_der: Buffer.from([0x30, 0]),
    subject_dn: `CN=${serial}.example.test`,
    sans: JSON.stringify([`${serial}.example.test`]),
    profile: 'tls-server',
    spki_sha256: 'ab'.repeat(32),
    not_before: new Date(),
    not_after: new Date(Date.now() + 90 * 24 * 60 * MINUTE),
    created_at: new Date(Date.now() - ageMs),
  });
  await db.knex('certificates').insert([row('0a01', 'reserved', 10 * MINUTE), row('0a02', 'reserved', 5_000), row('0a03', 'failed', 10 * MINUTE)]);
}, 60_000);
afterAll(async () => db?.drop());

async function run(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = process.env.DATABASE_URL;
  if (db.url) process.env.DATABASE_URL = db.url;
  try {
    const code = await certCommand(['orphans', ...args, ...(db.dataDir ? ['--data-dir', db.dataDir] : [])], (l) => out.push(l), (l) => err.push(l));
    return { code, out, err };
  } finally {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
  }
}

describe('strongroom cert orphans', () => {
  it('lists a reservation older than the default minute, not a younger one nor a failed row', async () => {
    const r = await run([]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toHaveLength(1);
    expect(r.out[0]).toMatch(/^issuing-x\t0a01\t\S+Z\ttls-server\tclient -\tCN=0a01\.example\.test$/);
    expect(r.err.join('\n')).toMatch(/1 orphaned reservation/);
  });

  it('--older-than 0s lists both reservations, oldest first; --json gives the fields', async () => {
    const r = await run(['--older-than', '0s', '--json']);
    const rows = JSON.parse(r.out[0]!) as { serial: string; ca: string; revoked: boolean }[];
    expect(rows.map((x) => x.serial)).toEqual(['0a01', '0a02']);
    expect(rows.every((x) => x.ca === 'issuing-x' && !x.revoked)).toBe(true);
  });

  it('--older-than 1h: none', async () => {
    expect((await run(['--older-than', '1h'])).out).toEqual(['no orphaned reservations']);
  });

  it.each([['10'], ['-5m'], ['1d'], ['5 m'], ['9999999s']])('refuses --older-than %s as a usage error', async (v) => {
    expect(() => parseDuration(v)).toThrow(UsageError);
  });

  it('refuses an unknown option and an unknown subcommand as usage errors', async () => {
    await expect(certCommand(['orphans', '--all'], () => undefined)).rejects.toBeInstanceOf(UsageError);
    await expect(certCommand(['list'], () => undefined)).rejects.toBeInstanceOf(UsageError);
  });
});
