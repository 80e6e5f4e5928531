// strongroom audit verify | export | head: exit codes and output, on DATABASE_URL or the data dir's database.
import { spawnSync } from 'node:child_process';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../ca/cli/main.ts';
import { openDatabase } from '../../ca/db/connect.ts';
import type { TestDatabase } from '../support/database.ts';
import { appendMany, migratedDatabase, onPostgres, tamper } from './audit-support.ts';

let db: TestDatabase;

/**
 * PGlite allows one opener per data directory, so on PGlite the test holds it only while it uses it and the CLI
 * opens it for itself, as it would from another process; on PostgreSQL both use the server.
 */
async function withKnex<T>(fn: (knex: Knex) => Promise<T>): Promise<T> {
  if (onPostgres) return fn(db.knex);
  const knex = await openDatabase({ dataDir: db.dataDir! });
  try {
    return await fn(knex);
  } finally {
    await knex.destroy();
  }
}

function env(): Record<string, string | undefined> {
  return onPostgres ? { DATABASE_URL: db.url } : { DATABASE_URL: undefined };
}

async function cli(argv: string[]) {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env())) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main(['audit', ...argv, ...(onPostgres || argv.includes('--data-dir') ? [] : ['--data-dir', db.dataDir!])], (l) => out.push(l), (l) => err.push(l));
    return { code, out, err: err.join('\n') };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

beforeAll(async () => {
  db = await migratedDatabase();
  await appendMany(db.knex, 8);
  if (!onPostgres) await db.knex.destroy();
});
afterAll(async () => {
  await db?.drop();
});

describe(`strongroom audit (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it.each([
    ['no subcommand', [], 2, /strongroom audit <command>/],
    ['unknown subcommand', ['rewrite'], 2, /unknown audit command "rewrite"/],
    ['unknown option', ['verify', '--fix'], 2, /Unknown option '--fix'/],
    ['--from on verify', ['verify', '--from', '1'], 2, /Unknown option '--from'/],
    ['a bad --from', ['export', '--from', 'one'], 2, /--from takes a seq/],
    ['a negative --to', ['export', '--to', '-3'], 2, /--to/],
    ['--from after --to', ['export', '--from', '5', '--to', '2'], 2, /--from 5 is after --to 2/],
    ['a bad checkpoint', ['verify', '--checkpoint', '12:abc'], 2, /--checkpoint takes SEQ:HASH/],
  ])('%s → exit %i', async (_name, argv, code, message) => {
    const r = await cli(argv as string[]);
    expect(r.code).toBe(code);
    expect(`${r.out.join('\n')}\n${r.err}`).toMatch(message);
  });

  it('verify exits 0 on an intact log and names its head', async () => {
    const r = await cli(['verify']);
    expect(r.code).toBe(0);
    const h = await cli(['head']);
    expect(h.code).toBe(0);
    expect(h.out).toHaveLength(1);
    const [seq, hash] = h.out[0]!.split(' ');
    expect(seq).toBe('8');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(r.out).toEqual([`audit log intact: 8 entries, head seq 8 hash ${hash}`]);
    const c = await cli(['verify', '--checkpoint', `${seq}:${hash}`]);
    expect(c.code).toBe(0);
    expect(c.out[0]).toMatch(/1 checkpoint\(s\) found/);
  });

  it('export writes JSON lines to stdout, all or a range', async () => {
    const all = await cli(['export']);
    expect(all.code).toBe(0);
    expect(all.out.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(all.err).toMatch(/exported 8 audit entries/);
    const some = await cli(['export', '--from', '3', '--to', '5']);
    expect(some.code).toBe(0);
    expect(some.out).toEqual(all.out.slice(2, 5));
  });

  it('runs as the real binary: export on stdout, and verify exits 1 with one line per problem once tampered', async () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['ca/cli/strongroom.mjs', 'audit', ...args, ...(onPostgres ? [] : ['--data-dir', db.dataDir!])], {
        encoding: 'utf8',
        env: { ...process.env, ...(onPostgres ? { DATABASE_URL: db.url } : { DATABASE_URL: '' }) },
        timeout: 60_000,
      });
    const exported = run(['export', '--to', '2']);
    expect(exported.status).toBe(0);
    expect(exported.stdout.trim().split('\n')).toHaveLength(2);

    await withKnex(async (knex) => {
      await tamper(knex, async (t) => {
        await t('audit_log').where({ seq: 3 }).update({ actor: 'mallory' });
        await t('audit_log').where({ seq: 6 }).del();
      });
    });
    const r = run(['verify']);
    expect(r.status).toBe(1);
    expect(r.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^PROBLEM \[edited\] seq 3: its hash does not match its content/),
      expect.stringMatching(/^PROBLEM \[deleted\] seq 6 is missing/),
      'audit log does NOT verify: 2 problems in 7 entries',
    ]);
  });

  it('verify reports a checkpoint past the end as entries removed from the end', async () => {
    const r = await cli(['verify', '--checkpoint', `9:${'ab'.repeat(32)}`]);
    expect(r.code).toBe(1);
    expect(r.out).toContainEqual(expect.stringMatching(/^PROBLEM \[deleted\] seq 9 is missing: the checkpoint of seq 9 .* removed from the end/));
  });

  it('fails with exit 1 and a message on a database that is not migrated', async () => {
    await withKnex((knex) => knex.raw('ALTER TABLE audit_log RENAME TO audit_log_elsewhere'));
    try {
      const r = await cli(['verify']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/audit_log/);
    } finally {
      await withKnex((knex) => knex.raw('ALTER TABLE audit_log_elsewhere RENAME TO audit_log'));
    }
  });
});
