// Tampering past the append-only triggers (as a table owner could) and what verifyAudit says about it.
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { entryHash, GENESIS_HASH, head, verifyAudit, type AuditHead, type AuditProblemKind } from '../../ca/audit/index.ts';
import type { TestDatabase } from '../support/database.ts';
import { appendMany, migratedDatabase, onPostgres, renumber, swap, tamper } from './audit-support.ts';

const N = 12;
let db: TestDatabase;
let knex: Knex;
let heads: AuditHead[];

beforeAll(async () => {
  db = await migratedDatabase();
  knex = db.knex;
});
afterAll(async () => {
  await db?.drop();
});

beforeEach(async () => {
  await tamper(knex, (trx) => trx.raw('TRUNCATE audit_log'));
  await appendMany(knex, N);
  heads = ((await knex('audit_log').orderBy('seq').select('seq', 'hash')) as AuditHead[]).map(({ seq, hash }) => ({ seq, hash }));
});

async function hashOf(trx: Knex.Transaction, seq: number): Promise<string> {
  return ((await trx('audit_log').where({ seq }).first('hash')) as { hash: string }).hash;
}

/** A row an attacker makes up, with a correct hash for the seq and predecessor it claims. */
function forged(seq: number, prevHash: string) {
  const content = { seq, at: '2026-11-28T12:00:00.000Z', actor: 'mallory', action: 'certificate.issue', subject: 'forged', details: { note: 'made up' }, prevHash };
  const { prevHash: _link, ...columns } = content;
  return { ...columns, prev_hash: prevHash, hash: entryHash(content) };
}

async function insertRow(trx: Knex.Transaction, row: ReturnType<typeof forged>): Promise<void> {
  await trx('audit_log').insert(row);
}

type Case = [name: string, tamper: (trx: Knex.Transaction) => Promise<unknown>, expected: [seq: number, kind: AuditProblemKind, message?: RegExp][], checkpoints?: () => AuditHead[]];

const cases: Case[] = [
  ['details edited', (t) => t.raw(`UPDATE audit_log SET details = '{"n": 999}' WHERE seq = 5`), [[5, 'edited', /hash does not match its content/]]],
  ['actor edited', (t) => t('audit_log').where({ seq: 7 }).update({ actor: 'mallory' }), [[7, 'edited']]],
  ['subject set to null', (t) => t('audit_log').where({ seq: 1 }).update({ subject: null }), [[1, 'edited']]],
  ['last row edited', (t) => t('audit_log').where({ seq: N }).update({ action: 'nothing.happened' }), [[N, 'edited']]],
  ['time moved by one microsecond', (t) => t.raw(`UPDATE audit_log SET at = at + interval '1 microsecond' WHERE seq = 4`), [[4, 'edited', /below the millisecond/]]],
  ['time moved by one millisecond', (t) => t.raw(`UPDATE audit_log SET at = at + interval '1 millisecond' WHERE seq = 4`), [[4, 'edited']]],
  [
    'row edited and its hash recomputed',
    async (t) => {
      const row = await t('audit_log').where({ seq: 6 }).first();
      const at = (row.at as Date).toISOString();
      const content = { seq: 6, at, actor: row.actor, action: row.action, subject: 'rewritten', details: row.details, prevHash: row.prev_hash };
      await t('audit_log').where({ seq: 6 }).update({ subject: 'rewritten', hash: entryHash(content) });
    },
    [[6, 'edited', /hash recomputed/]],
  ],
  ['one row deleted', (t) => t('audit_log').where({ seq: 5 }).del(), [[5, 'deleted', /^seq 5 is missing/]]],
  ['three rows deleted', (t) => t('audit_log').whereBetween('seq', [5, 7]).del(), [[5, 'deleted', /^seqs 5 to 7 are missing/]]],
  ['the first row deleted', (t) => t('audit_log').where({ seq: 1 }).del(), [[1, 'deleted']]],
  [
    'one row deleted and the rest renumbered',
    async (t) => {
      await t('audit_log').where({ seq: 5 }).del();
      await renumber(t, 6, N, -1);
    },
    [[5, 'deleted', /renumbered/]],
  ],
  [
    'two rows deleted and the rest renumbered',
    async (t) => {
      await t('audit_log').whereIn('seq', [3, 4]).del();
      await renumber(t, 5, N, -2);
    },
    [[3, 'deleted', /^seqs 3 to 4 are missing/]],
  ],
  ['two adjacent rows swapped', (t) => swap(t, 5, 6), [[5, 'reordered', /written as seq 6/], [6, 'reordered', /written as seq 5/]]],
  ['two distant rows swapped', (t) => swap(t, 3, 9), [[3, 'reordered', /written as seq 9/], [9, 'reordered', /written as seq 3/]]],
  ['the last two rows swapped', (t) => swap(t, N - 1, N), [[N - 1, 'reordered'], [N, 'reordered']]],
  [
    'a forged row inserted in the middle (correct hash and link), the rest renumbered',
    async (t) => {
      await renumber(t, 5, N, 1);
      await insertRow(t, forged(5, await hashOf(t, 4)));
    },
    [[5, 'inserted', /links past it/]],
  ],
  [
    'a forged row with a made-up hash inserted in the middle, the rest renumbered',
    async (t) => {
      await renumber(t, 8, N, 1);
      await insertRow(t, { ...forged(8, 'ab'.repeat(32)), hash: 'cd'.repeat(32) });
    },
    [[8, 'inserted']],
  ],
  [
    'two forged rows inserted in the middle, the rest renumbered',
    async (t) => {
      await renumber(t, 5, N, 2);
      const first = forged(5, await hashOf(t, 4));
      await insertRow(t, first);
      await insertRow(t, forged(6, first.hash));
    },
    [[5, 'inserted'], [6, 'inserted']],
  ],
  ['a forged row before the first (seq 0)', (t) => insertRow(t, forged(0, GENESIS_HASH)), [[0, 'inserted']]],
  ['a forged row with a made-up hash appended', (t) => insertRow(t, { ...forged(N + 1, 'ab'.repeat(32)), hash: 'cd'.repeat(32) }), [[N + 1, 'inserted']]],
  [
    'rows renumbered with nothing removed',
    (t) => renumber(t, 8, N, 10),
    [[18, 'malformed', /renumbered/]],
  ],
  ['a float written into details', (t) => t.raw(`UPDATE audit_log SET details = '{"n": 1.5}' WHERE seq = 5`), [[5, 'malformed', /not an integer/]]],
  ['details replaced by an array', (t) => t.raw(`UPDATE audit_log SET details = '[]' WHERE seq = 5`), [[5, 'malformed', /not a JSON object/]]],
  ['hash garbled', (t) => t('audit_log').where({ seq: 5 }).update({ hash: 'not-a-hash' }), [[5, 'malformed', /hash "not-a-hash"/]]],
  ['prev_hash removed', (t) => t('audit_log').where({ seq: 5 }).update({ prev_hash: null }), [[5, 'malformed', /prev_hash null/]]],
  // Without a checkpoint nothing can tell that the last entries are gone; with one, the verifier can.
  ['the last row deleted, no checkpoint', (t) => t('audit_log').where({ seq: N }).del(), []],
  ['the last two rows deleted, checkpoint of the head', (t) => t('audit_log').whereIn('seq', [N - 1, N]).del(), [[N - 1, 'deleted', /removed from the end/]], () => [heads[N - 1]!]],
  ['nothing changed, checkpoints of seq 3 and the head', async () => undefined, [], () => [heads[2]!, heads[N - 1]!]],
  [
    'the last row rewritten with its hash recomputed, checkpoint of the head',
    async (t) => {
      const row = await t('audit_log').where({ seq: N }).first();
      const content = { seq: N, at: (row.at as Date).toISOString(), actor: row.actor, action: row.action, subject: 'rewritten', details: row.details, prevHash: row.prev_hash };
      await t('audit_log').where({ seq: N }).update({ subject: 'rewritten', hash: entryHash(content) });
    },
    [[N, 'edited', /checkpointed hash/]],
    () => [heads[N - 1]!],
  ],
];

describe(`verifyAudit pinpoints tampering (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('an untouched chain verifies', async () => {
    expect(await verifyAudit(knex)).toEqual({ ok: true, rows: N, head: await head(knex), problems: [], omitted: 0 });
  });

  it.each(cases)('%s', async (_name, fn, expected, checkpoints) => {
    await tamper(knex, fn);
    const opts = checkpoints ? { checkpoints: checkpoints() } : {};
    const r = await verifyAudit(knex, opts);
    expect(r.problems.map((p) => [p.seq, p.kind])).toEqual(expected.map(([seq, kind]) => [seq, kind]));
    expected.forEach(([, , message], i) => {
      if (message) expect(r.problems[i]!.message).toMatch(message);
    });
    expect(r.ok).toBe(expected.length === 0);
    // The same findings however the rows are batched (the verifier looks one row ahead, across batches too).
    for (const batchSize of [1, 2, 5]) expect((await verifyAudit(knex, { ...opts, batchSize })).problems).toEqual(r.problems);
  });

  it('caps the list of problems on a wholesale rewrite and counts the rest', async () => {
    await tamper(knex, (t) => t('audit_log').update({ actor: 'mallory' }));
    const r = await verifyAudit(knex, { maxProblems: 5 });
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => [p.seq, p.kind])).toEqual([1, 2, 3, 4, 5].map((s) => [s, 'edited']));
    expect(r.omitted).toBe(N - 5);
  });
});
