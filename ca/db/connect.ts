/**
 * Opening the CA database: an external PostgreSQL when DATABASE_URL is set, otherwise an embedded PGlite stored
 * under the data directory. Both speak the same SQL and, once opened here, return rows of the same shape.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import knex from 'knex';
import type { Knex } from 'knex';
import pg from 'pg';
import { PgliteClient } from './pglite-client.ts';

export interface DatabaseOptions {
  /** postgres:// URL of an external server; when absent the embedded database is used. */
  url?: string;
  /** The Strongroom data directory; the embedded database lives in `<dataDir>/pgdata`. */
  dataDir: string;
}

/** DATABASE_URL when set (blank counts as unset); anything but a postgres URL is refused early. */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = env.DATABASE_URL?.trim();
  if (!url) return undefined;
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new Error('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  return url;
}

export async function openDatabase(opts: DatabaseOptions): Promise<Knex> {
  return opts.url ? openPostgres(opts.url) : openPglite(join(opts.dataDir, 'pgdata'));
}

/**
 * How long a transaction of ours may sit idle between two statements before the server ends the session. The
 * longest legitimate gap is one HSM operation inside a transaction (a CRL signed while its number is held, a
 * service certificate issued under its lock), and hsm.pool.deadlineMs allows at most 60 s.
 */
const IDLE_IN_TRANSACTION_MS = 90_000;

export async function openPostgres(url: string, options: { idleInTransactionMs?: number } = {}): Promise<Knex> {
  // min 0: idle connections are closed rather than kept alive across server restarts. A request waits at most 5 s
  // for a connection (knex waits 60 s by default): a database that is down or saturated answers 503 fast.
  const afterCreate = sessionSettings(options.idleInTransactionMs ?? IDLE_IN_TRANSACTION_MS);
  const db = knex({ client: 'pg', connection: { connectionString: url, types: pgTypes }, pool: { min: 0, max: 10, afterCreate }, acquireConnectionTimeout: 5000 });
  return checked(db);
}

type RawConnection = { query(sql: string, cb: (err: Error | null) => void): void };

/**
 * Two ways a CA process can leave locks behind it, each closed by a session setting:
 * - killed while its statement waits for a lock, it would still commit when the lock is released: PostgreSQL does
 *   not notice the client is gone until it writes to it. client_connection_check_interval (PostgreSQL 14+) has the
 *   server check the socket every second and cancel the statement, so a killed CA leaves no row behind it;
 * - paused (SIGSTOP, a frozen VM, a debugger) inside a transaction, its socket stays open and its locks — the audit
 *   lock every issuance commits under, a CRL number — stay held: idle_in_transaction_session_timeout ends the
 *   session, and its transaction, once it has been idle that long. The process finds its connection gone and
 *   answers as for a database failure.
 * Each is set on its own, so that a server that does not know one still gets the other.
 */
function sessionSettings(idleInTransactionMs: number) {
  return (conn: RawConnection, done: (err: Error | null, conn: unknown) => void): void => {
    conn.query('SET client_connection_check_interval = 1000', () =>
      conn.query(`SET idle_in_transaction_session_timeout = ${Math.max(1, Math.floor(idleInTransactionMs))}`, () => done(null, conn)),
    );
  };
}

/**
 * PGlite has a single connection: inside a transaction use only the trx, as a query on the root knex waits for the
 * transaction to end. It also takes no lock on its files: two processes on one pgdata both write, and corrupt it.
 */
export async function openPglite(pgdataDir: string): Promise<Knex> {
  // The CA's records are private to its operator.
  mkdirSync(pgdataDir, { recursive: true, mode: 0o700 });
  const db = knex({ client: PgliteClient, dialect: 'postgres', connection: { filename: pgdataDir } });
  return checked(db);
}

/** Fail at open (bad URL, server down, corrupt data dir) rather than at the first real query. */
async function checked(db: Knex): Promise<Knex> {
  try {
    await db.raw('select 1');
    return db;
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw err;
  }
}

const INT8_OID = 20;

/** bigint (ids, counts) as PGlite returns it: a number when safe, a BigInt beyond 2^53; node-pg's default is a string. */
function parseInt8(text: string): number | bigint {
  const n = BigInt(text);
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

// Per-connection overrides, so the process-wide pg.types stay untouched for any other pg user.
const pgTypes: Knex.PgCustomTypesConfig = {
  getTypeParser(oid: number, format: string) {
    if (oid === INT8_OID && format !== 'binary') return parseInt8;
    return pg.types.getTypeParser(oid, format === 'binary' ? 'binary' : 'text');
  },
};
