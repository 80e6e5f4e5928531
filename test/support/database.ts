/**
 * A database of its own for each test file: a fresh PostgreSQL database on the DATABASE_URL server when one is
 * configured, an embedded PGlite in a temp dir otherwise. Whatever an earlier run left behind is never seen.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import pg from 'pg';
import { databaseUrlFromEnv, openDatabase, openPostgres } from '../../ca/db/connect.ts';

export interface TestDatabase {
  knex: Knex;
  /** Set when the database lives on a PostgreSQL server. */
  url?: string;
  /** Set when the database is an embedded PGlite. */
  dataDir?: string;
  /** Closes the connections and removes the database; safe to call twice. */
  drop(): Promise<void>;
}

export async function freshDatabase(): Promise<TestDatabase> {
  const serverUrl = databaseUrlFromEnv();
  return serverUrl ? freshServerDatabase(serverUrl) : freshPglite();
}

async function freshServerDatabase(serverUrl: string): Promise<TestDatabase> {
  const name = `strongroom_t_${randomBytes(6).toString('hex')}`;
  await admin(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const knex = await openPostgres(url.href).catch(async (err: unknown) => {
    await admin(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    throw err;
  });
  return {
    knex,
    url: url.href,
    drop: once(async () => {
      await knex.destroy();
      await admin(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }),
  };
}

async function freshPglite(): Promise<TestDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), 'strongroom-db-'));
  const template = await pgliteTemplate();
  if (template) await cp(template, join(dataDir, 'pgdata'), { recursive: true });
  const knex = await openDatabase({ dataDir });
  return {
    knex,
    dataDir,
    drop: once(async () => {
      await knex.destroy();
      await rm(dataDir, { recursive: true, force: true });
    }),
  };
}

/**
 * initdb under WebAssembly takes ~8 s; copying an empty cluster made once per run takes well under 1 s. The
 * template lives in the run's root (removed by global teardown), so it never carries anything between runs.
 */
async function pgliteTemplate(): Promise<string | undefined> {
  const root = process.env.STRONGROOM_TEST_ROOT;
  if (!root) return undefined;
  const template = join(root, 'pglite-template');
  if (existsSync(template)) return template;
  const building = await mkdtemp(join(root, 'pglite-template-'));
  try {
    await (await openDatabase({ dataDir: building })).destroy();
    // Built aside and renamed into place, so a reader never copies a half-written cluster.
    await rename(join(building, 'pgdata'), template).catch((err: unknown) => {
      if (!existsSync(template)) throw err;
    });
  } finally {
    await rm(building, { recursive: true, force: true });
  }
  return template;
}

/** CREATE/DROP DATABASE cannot run inside a transaction or on the target database itself: a short-lived client. */
async function admin(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
