// Appending to the audit log: the hashed form, refused values, linear chains under concurrency, transactions.
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventError, AuditLog, AuditStoreError, entryHash, GENESIS_HASH, head, verifyAudit, type AuditEvent } from '../../ca/audit/index.ts';
import { canonicalJson } from '../../ca/encoding/canonical-json.ts';
import { openPostgres } from '../../ca/db/connect.ts';
import type { TestDatabase } from '../support/database.ts';
import { event, migratedDatabase, onPostgres, seqs } from './audit-support.ts';

let db: TestDatabase;
let knex: Knex;
let log: AuditLog;

beforeAll(async () => {
  db = await migratedDatabase();
  knex = db.knex;
  log = new AuditLog(knex);
});
afterAll(async () => {
  await db?.drop();
});

async function count(): Promise<number> {
  const [row] = (await knex('audit_log').count({ n: '*' })) as { n: number }[];
  return row!.n;
}

describe(`audit log (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('an empty log verifies and its head is seq 0 with the genesis hash', async () => {
    expect(await head(knex)).toEqual({ seq: 0, hash: GENESIS_HASH });
    expect(await verifyAudit(knex)).toEqual({ ok: true, rows: 0, head: { seq: 0, hash: GENESIS_HASH }, problems: [], omitted: 0 });
  });

  it('appends entry 1 linked to 64 zeros, hashing the canonical JSON of the entry without its hash', async () => {
    const e = await log.append({ actor: 'operator', action: 'ca.import', subject: 'issuing-ca-1', details: { z: 1, a: 'x' } });
    expect(e).toMatchObject({ seq: 1, actor: 'operator', action: 'ca.import', subject: 'issuing-ca-1', details: { a: 'x', z: 1 }, prevHash: GENESIS_HASH });
    expect(e.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Math.abs(Date.parse(e.at) - Date.now())).toBeLessThan(60_000);
    // The documented form, spelled out: keys sorted, no whitespace, SHA-256, lowercase hex.
    const form = `{"action":"ca.import","actor":"operator","at":"${e.at}","details":{"a":"x","z":1},"prevHash":"${GENESIS_HASH}","seq":1,"subject":"issuing-ca-1"}`;
    const { createHash } = await import('node:crypto');
    expect(e.hash).toBe(createHash('sha256').update(form).digest('hex'));
    expect(entryHash(e)).toBe(e.hash);
    expect(await head(knex)).toEqual({ seq: 1, hash: e.hash });
  });

  it('stores exactly what it hashed: the time to the millisecond, the details as given', async () => {
    const e = await log.append({ actor: 'a', action: 'b' });
    expect(e.subject).toBeNull();
    expect(e.details).toEqual({});
    const { rows } = await knex.raw(`SELECT at, to_char(at AT TIME ZONE 'UTC', 'US') AS us, details, prev_hash, hash FROM audit_log WHERE seq = ?`, [e.seq]);
    expect((rows[0].at as Date).toISOString()).toBe(e.at);
    expect(rows[0].us).toMatch(/000$/);
    expect(rows[0]).toMatchObject({ details: {}, prev_hash: (await knex('audit_log').where({ seq: e.seq - 1 }).first()).hash, hash: e.hash });
  });

  it('round-trips every allowed value through jsonb exactly', async () => {
    const details = {
      text: 'ünïcödé 𝄞 😀 \n\t"quoted" \\ </script>',
      empty: '',
      max: Number.MAX_SAFE_INTEGER,
      min: Number.MIN_SAFE_INTEGER,
      zero: 0,
      flags: [true, false, null],
      deep: { a: [{ b: [[], {}] }] },
      'key with spaces and ключ': 1,
    };
    const e = await log.append({ actor: 'ünïcödé', action: 'test.values', subject: '', details });
    const stored = await knex('audit_log').where({ seq: e.seq }).first();
    expect(canonicalJson(stored.details)).toBe(canonicalJson(details));
    expect(stored.subject).toBe('');
    expect((await verifyAudit(knex)).ok).toBe(true);
  });

  const sparse: unknown[] = [1];
  sparse[2] = 3;
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  it.each<[string, unknown, RegExp]>([
    ['a float', { details: { ratio: 1.5 } }, /details\.ratio is 1\.5, not an integer/],
    ['NaN', { details: { x: Number.NaN } }, /details\.x is NaN/],
    ['Infinity', { details: { x: Infinity } }, /details\.x is Infinity/],
    ['an unsafe integer', { details: { big: 2 ** 53 } }, /beyond the safe integer range/],
    ['a bigint', { details: { big: 10n } }, /details\.big is a bigint/],
    ['undefined', { details: { gone: undefined } }, /details\.gone is undefined/],
    ['undefined in an array', { details: { list: [1, undefined] } }, /details\.list\[1\] is undefined/],
    ['a Date', { details: { when: new Date() } }, /details\.when is a Date/],
    ['a Buffer', { details: { raw: Buffer.from([1]) } }, /details\.raw is a Buffer/],
    ['a sparse array', { details: { s: sparse } }, /hole in a sparse array/],
    ['a cycle', { details: cyclic }, /refers back to itself/],
    ['U+0000 in details', { details: { s: 'a\u0000b' } }, /details\.s contains U\+0000/],
    ['U+0000 in a key', { details: { 'a\u0000': 1 } }, /key that contains U\+0000/],
    ['a lone surrogate', { details: { s: '\uD800' } }, /lone UTF-16 surrogate/],
    ['details as an array', { details: [1] }, /details must be a JSON object/],
    ['details null', { details: null }, /details must be a JSON object/],
    ['no actor', { actor: '' }, /actor must be a non-empty string/],
    ['U+0000 in the actor', { actor: 'x\u0000' }, /actor contains U\+0000/],
    ['a numeric subject', { subject: 12 }, /subject must be a string or null/],
    ['an unknown field', { serial: 'ab' }, /unknown field\(s\) serial/],
  ])('refuses %s before touching the database', async (_name, patch, message) => {
    const before = await head(knex);
    const ev = { actor: 'op', action: 'test.refused', ...(patch as object) } as AuditEvent;
    const e = await log.append(ev).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(AuditEventError);
    expect((e as Error).message).toMatch(message);
    expect(await head(knex)).toEqual(before);
  });

  it('refuses UPDATE, DELETE and TRUNCATE in the database', async () => {
    const before = await knex('audit_log').orderBy('seq').select();
    await expect(knex('audit_log').where({ seq: 1 }).update({ actor: 'mallory' })).rejects.toThrow(/append-only: UPDATE/);
    await expect(knex('audit_log').where({ seq: 1 }).del()).rejects.toThrow(/append-only: DELETE/);
    await expect(knex.raw('TRUNCATE audit_log')).rejects.toThrow(/append-only: TRUNCATE/);
    expect(await knex('audit_log').orderBy('seq').select()).toEqual(before);
  });

  it('an append in a caller transaction that rolls back leaves no row, no gap, and the chain verifies', async () => {
    const before = await head(knex);
    const n = await count();
    let inside: number | undefined;
    await expect(
      knex.transaction(async (trx) => {
        const e = await log.append({ actor: 'api', action: 'certificate.issue', subject: 'dead' }, trx);
        inside = e.seq;
        expect(await head(trx)).toEqual({ seq: e.seq, hash: e.hash });
        throw new Error('issuance failed after the audit entry');
      }),
    ).rejects.toThrow(/issuance failed/);
    expect(inside).toBe(before.seq + 1);
    expect(await count()).toBe(n);
    expect(await head(knex)).toEqual(before);
    const next = await log.append({ actor: 'api', action: 'certificate.issue', subject: 'beef' });
    expect(next.seq).toBe(before.seq + 1);
    expect(next.prevHash).toBe(before.hash);
    expect((await verifyAudit(knex)).ok).toBe(true);
  });

  it('an append in a caller transaction commits with the caller work', async () => {
    const e = await knex.transaction(async (trx) => {
      await trx('api_clients').insert({ name: 'audited-client', token_hash: 'h-audited', grants: {} });
      return log.append({ actor: 'operator', action: 'client.add', subject: 'audited-client' }, trx);
    });
    expect(await knex('api_clients').where({ name: 'audited-client' }).first()).toBeDefined();
    expect(await head(knex)).toEqual({ seq: e.seq, hash: e.hash });
  });

  it('refuses to append in a REPEATABLE READ or SERIALIZABLE transaction, whose snapshot could miss the head', async () => {
    const before = await head(knex);
    for (const isolationLevel of ['repeatable read', 'serializable'] as const) {
      const trx = await knex.transaction({ isolationLevel });
      try {
        await expect(log.append({ actor: 'a', action: 'b' }, trx)).rejects.toThrow(AuditStoreError);
      } finally {
        await trx.rollback();
      }
    }
    expect(await head(knex)).toEqual(before);
  });

  it.runIf(onPostgres)('holds the append lock until the caller commits: the next append waits and links to it', async () => {
    const trx = await knex.transaction();
    let mine: Awaited<ReturnType<AuditLog['append']>>;
    try {
      mine = await log.append({ actor: 'api', action: 'certificate.issue', subject: 'slow' }, trx);
    } catch (e) {
      await trx.rollback();
      throw e;
    }
    let done = false;
    const other = log.append({ actor: 'api', action: 'certificate.issue', subject: 'fast' }).then((e) => {
      done = true;
      return e;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(done).toBe(false);
    await trx.commit();
    const theirs = await other;
    expect(theirs.seq).toBe(mine.seq + 1);
    expect(theirs.prevHash).toBe(mine.hash);
  });

  // 400 at once: every append holds the chain's lock in turn, and a caller waits at most 5 s for a pooled connection
  // (ca/db/connect.ts) — 1000 at once crossed that on a loaded 2-core machine without saying anything about the chain.
  it('400 concurrent appends from several connections form one gapless, verifying chain', async () => {
    const N = 400;
    const start = (await head(knex)).seq;
    // On PostgreSQL: the test's pool (up to 10 connections) and three more pools, as other processes would be.
    // PGlite has one connection: the appends queue on it.
    const others = onPostgres ? await Promise.all([1, 2, 3].map(() => openPostgres(db.url!))) : [];
    try {
      const logs = [log, ...others.map((k) => new AuditLog(k))];
      const entries = await Promise.all(Array.from({ length: N }, (_, i) => logs[i % logs.length]!.append(event(i))));
      expect(new Set(entries.map((e) => e.seq)).size).toBe(N);
      const all = await seqs(knex);
      expect(all).toEqual(Array.from({ length: start + N }, (_, i) => i + 1));
      // Each returned entry is exactly the stored one, and each links to the entry before it.
      const bySeq = new Map(entries.map((e) => [e.seq, e]));
      for (let s = start + 2; s <= start + N; s++) expect(bySeq.get(s)!.prevHash).toBe(bySeq.get(s - 1)!.hash);
      const r = await verifyAudit(knex, { batchSize: 97 });
      expect(r).toEqual({ ok: true, rows: start + N, head: await head(knex), problems: [], omitted: 0 });
    } finally {
      await Promise.all(others.map((k) => k.destroy()));
    }
  });
});
