// The audit log's hash chain anchored by the TSA: heads time-stamped and stored, and `strongroom audit verify`
// checking the tokens and that each anchored head is still in the chain; `strongroom tsa show`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { head } from '../../ca/audit/index.ts';
import { main } from '../../ca/cli/main.ts';
import { openDatabase } from '../../ca/db/connect.ts';
import { migrateLatest } from '../../ca/db/migrate.ts';
import { toPem } from '../../ca/x509/index.ts';
import { importIssuer, makeChain, openssl, type CaChain } from '../http/fixture.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { appendMany, onPostgres, tamper } from '../audit/audit-support.ts';
import { startTsaServer } from './server.ts';

let chain: CaChain;
let db: TestDatabase;
const anchors: { seq: number; hash: string; serial: bigint }[] = [];

async function withKnex<T>(fn: (knex: Knex) => Promise<T>): Promise<T> {
  if (onPostgres) return fn(db.knex);
  const knex = await openDatabase({ dataDir: db.dataDir! });
  try {
    return await fn(knex);
  } finally {
    await knex.destroy();
  }
}

async function cli(argv: string[]) {
  const saved = process.env.DATABASE_URL;
  if (onPostgres) process.env.DATABASE_URL = db.url;
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main([...argv, ...(onPostgres ? [] : ['--data-dir', db.dataDir!])], (l) => out.push(l), (l) => err.push(l));
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
  }
}

beforeAll(async () => {
  chain = await makeChain('tsa-anchor');
  db = await freshDatabase();
  await migrateLatest(db.knex);
  await importIssuer(db.knex, chain, 'issuing-ca');
  writeFileSync(join(chain.dir, 'root.pem'), toPem(chain.rootDer, 'CERTIFICATE'));
  writeFileSync(join(chain.dir, 'issuing.pem'), toPem(chain.issuingDer, 'CERTIFICATE'));
  await appendMany(db.knex, 5);
  const s = await startTsaServer('tsa-anchor', { chain, db, tsa: { anchor: { enabled: true, intervalMs: 3_600_000 } } });
  try {
    // The schedule anchors the head once at start; these make sure of it and add a second anchor further on.
    await s.ca.tsa!.anchors!.anchorNow();
    const first = await head(db.knex);
    await appendMany(db.knex, 4);
    const second = await s.ca.tsa!.anchors!.anchorNow();
    expect(second!.seq).toBe(first.seq + 4);
    expect(await s.ca.tsa!.anchors!.anchorNow()).toBeUndefined(); // unchanged head: not anchored again
    const rows = (await db.knex('audit_anchors').select('seq', 'head_hash', db.knex.raw('tsa_serial::text AS s'), 'token_der').orderBy('seq')) as { seq: number; head_hash: string; s: string; token_der: Buffer }[];
    for (const r of rows) anchors.push({ seq: Number(r.seq), hash: r.head_hash, serial: BigInt(r.s) });
    writeFileSync(join(chain.dir, 'anchor.tok'), rows.at(-1)!.token_der);
  } finally {
    await s.close();
  }
  if (!onPostgres) await db.knex.destroy();
});

afterAll(async () => {
  await db?.drop();
});

describe('audit anchors', () => {
  it('time-stamps the head hash itself: openssl verifies the token against the anchored hash', () => {
    expect(anchors.length).toBe(2);
    const last = anchors.at(-1)!;
    const text = openssl(chain.dir, ['ts', '-verify', '-digest', last.hash, '-in', 'anchor.tok', '-token_in', '-CAfile', 'root.pem', '-untrusted', 'issuing.pem']);
    expect(text).toContain('Verification: OK');
  });

  it('strongroom tsa show prints the recorded token', async () => {
    const r = await cli(['tsa', 'show', anchors[0]!.serial.toString()]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`imprint      sha256 ${anchors[0]!.hash}`);
    expect(r.out).toMatch(/genTime\s+\d{4}-\d\d-\d\dT/);
    expect((await cli(['tsa', 'show', '999999'])).code).toBe(1);
    expect((await cli(['tsa', 'show', 'x'])).code).toBe(2);
  });

  it('strongroom audit verify checks every anchor token and finds each anchored head in the chain', async () => {
    const r = await cli(['audit', 'verify']);
    expect(r.out).toContain('2 TSA anchor(s) verified');
    expect(r.code).toBe(0);
  });

  it('a forged anchor token is reported', async () => {
    await withKnex(async (k) => {
      await k.transaction(async (trx) => {
        await trx.raw('ALTER TABLE audit_anchors DISABLE TRIGGER ALL');
        const [row] = (await trx('audit_anchors').select('id', 'token_der').orderBy('seq').limit(1)) as { id: number; token_der: Buffer }[];
        const forged = Buffer.from(row!.token_der);
        forged[forged.length - 5]! ^= 1; // inside the signature
        await trx('audit_anchors').where({ id: row!.id }).update({ token_der: forged });
        await trx.raw('ALTER TABLE audit_anchors ENABLE TRIGGER ALL');
      });
    });
    const r = await cli(['audit', 'verify']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/PROBLEM \[anchor\] anchor of seq \d+: the signature does not verify/);
  });

  it('entries removed from the end, before an anchored head, are detected through the anchor', async () => {
    const last = anchors.at(-1)!;
    await withKnex((k) => tamper(k, (trx) => trx('audit_log').where('seq', '>=', last.seq - 1).delete()));
    const r = await cli(['audit', 'verify']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/PROBLEM \[deleted\]/);
  });
});
