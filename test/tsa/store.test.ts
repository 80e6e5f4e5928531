// The TSA's records: a batch goes in as one statement with every row's bytes concatenated, so each row must get
// exactly its own bytes back — rows of different lengths, with and without a nonce — and the table's checks hold.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateLatest } from '../../ca/db/migrate.ts';
import { TimestampStore, type TimestampRecord } from '../../ca/db/timestamp-store.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
let store: TimestampStore;

beforeAll(async () => {
  db = await freshDatabase();
  await migrateLatest(db.knex);
  store = new TimestampStore(db.knex);
}, 60_000);
afterAll(async () => db?.drop());

const CERT = 'ab'.repeat(32);
const record = (serial: bigint, over: Partial<TimestampRecord> = {}): TimestampRecord => ({
  serial,
  genTime: new Date(Date.UTC(2026, 10, 28, 12, 0, Number(serial % 60n), 123)),
  policy: '1.3.6.1.4.1.99999.3161.1',
  hashAlgorithm: 'sha256',
  imprint: randomBytes(32),
  nonce: randomBytes(8),
  tsaCertSha256: CERT,
  tokenDer: randomBytes(300),
  ...over,
});

describe('TimestampStore', () => {
  it('a batch of rows of different lengths: each row reads back byte for byte', async () => {
    const rows = [
      record(1n),
      record(2n, { hashAlgorithm: 'sha384', imprint: randomBytes(48), nonce: undefined, tokenDer: randomBytes(1) }),
      record(3n, { hashAlgorithm: 'sha512', imprint: randomBytes(64), nonce: randomBytes(1), tokenDer: randomBytes(2048) }),
      record(4n, { policy: '1.2.3', tokenDer: randomBytes(301) }),
    ];
    await store.insertMany(rows);
    for (const r of rows) {
      const got = await store.bySerial(r.serial);
      expect(got).toBeDefined();
      expect(Buffer.from(got!.imprint).equals(Buffer.from(r.imprint))).toBe(true);
      expect(Buffer.from(got!.tokenDer).equals(Buffer.from(r.tokenDer))).toBe(true);
      expect(got!.nonce ? Buffer.from(got!.nonce).toString('hex') : undefined).toBe(r.nonce ? Buffer.from(r.nonce).toString('hex') : undefined);
      expect(got!.genTime.getTime()).toBe(r.genTime.getTime());
      expect([got!.policy, got!.hashAlgorithm, got!.tsaCertSha256]).toEqual([r.policy, r.hashAlgorithm, r.tsaCertSha256]);
    }
  });

  it.each([
    ['an imprint of a length no algorithm has', { imprint: randomBytes(20) }],
    ['a certificate fingerprint that is not 64 characters', { tsaCertSha256: 'ab' }],
    ['an empty policy', { policy: '' }],
    ['a serial that is not positive', { serial: 0n }],
  ])('refuses %s, and nothing of its batch is stored', async (_name, over) => {
    const good = record(100n + BigInt(Math.floor(Math.random() * 1e6)));
    const bad = record(good.serial + 1n, over as Partial<TimestampRecord>);
    await expect(store.insertMany([good, bad])).rejects.toMatchObject({ code: '23514' });
    expect(await store.bySerial(good.serial)).toBeUndefined();
  });

  it('refuses a serial twice', async () => {
    await store.insertMany([record(500n)]);
    await expect(store.insertMany([record(500n)])).rejects.toMatchObject({ code: '23505' });
  });
});
