/**
 * What ca/db uses of pg below knex: the connection pool knex keeps for a PostgreSQL server, and a base for pg
 * "submittables" — objects pg.Client.query() queues and hands the connection to when the client is free, used
 * where knex would spend a socket write and a round trip per statement (pipelined-copy.ts, pipelined-statements.ts).
 */
import type pg from 'pg';

/** The connection pool knex keeps for PostgreSQL, as far as a submittable needs it (PGlite has no such wire). */
export interface ConnectionSource {
  acquireConnection(): Promise<pg.Client>;
  releaseConnection(c: pg.Client): Promise<void>;
}

/** Whether `db` (a knex) talks to a PostgreSQL server through pg, whose connections take submittables. */
export const speaksPgWire = (db: { client: unknown }): boolean => (db.client as { config?: { client?: unknown } }).config?.client === 'pg';

/**
 * A submittable whose outcome is `done`: it resolves with result() at the server's ReadyForQuery (the connection
 * can take the next query then), and rejects on an ErrorResponse or a lost connection.
 */
export abstract class SettlingSubmittable<T> {
  readonly done: Promise<T>;
  private resolve!: (value: T) => void;
  private reject!: (e: unknown) => void;

  constructor() {
    this.done = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** What `done` resolves with; throwing rejects it instead. */
  protected abstract result(): T;

  handleReadyForQuery(): void {
    this.callback();
    try {
      this.resolve(this.result());
    } catch (e) {
      this.reject(e);
    }
  }

  handleError(e: unknown): void {
    this.callback();
    this.reject(e);
  }

  /** pg wraps this with its query_timeout timer when one is configured; calling it clears the timer. */
  callback(): void {}
}
