/**
 * Several statements sent in one write: Parse, Bind, Describe and Execute for each, one Sync after the last
 * (PostgreSQL's extended-query pipelining), instead of a write and a round trip per statement as pg.Client.query()
 * makes them. On a two-core virtual machine a loopback write cost the CA's main thread ~85 µs and more (it wakes
 * the server's process), and a group commit of issued certificates made six of them (bench/issue-bench.ts).
 *
 * What the protocol guarantees: the statements run in order; at the first error the server skips everything up to
 * the Sync, so nothing after a failed statement runs. Outside an explicit transaction block the statements up to the
 * Sync form one implicit transaction, committed at the Sync or rolled back; inside one (a BEGIN sent earlier, or in
 * this batch) an error leaves the block aborted until the caller sends ROLLBACK.
 *
 * A pg "submittable": pg.Client.query() queues it and hands it the connection when the client is free.
 */
import type pg from 'pg';

/** The connection pool knex keeps for PostgreSQL, as far as a submittable needs it (PGlite has no such wire). */
export interface ConnectionSource {
  acquireConnection(): Promise<pg.Client>;
  releaseConnection(c: pg.Client): Promise<void>;
}

/** Whether `db` (a knex) talks to a PostgreSQL server through pg, whose connections take submittables. */
export const speaksPgWire = (db: { client: unknown }): boolean => (db.client as { config?: { client?: unknown } }).config?.client === 'pg';

export interface Statement {
  text: string;
  /** Strings travel as text (cast them in the SQL), Buffers as binary (bytea), null as NULL. */
  values?: readonly (string | Buffer | null)[];
}

export interface StatementResult {
  /** The command tag's verb: "SELECT", "UPDATE", "BEGIN"… */
  command: string;
  /** Rows affected or returned, as the command tag reports it (0 when it reports none). */
  rowCount: number;
  /** Returned rows, text format: each field a string, or null for NULL. */
  rows: (string | null)[][];
}

/** The part of pg's Connection used here, as pg 8 has it (pg/lib/connection.js; @types/pg lags behind). */
interface Connection {
  stream: { cork(): void; uncork(): void };
  parse(m: { text: string }): void;
  bind(m: { values: readonly (string | Buffer | null)[] }): void;
  describe(m: { type: 'P'; name: string }): void;
  execute(m: { portal: string; rows: number }): void;
  sync(): void;
}

export class PipelinedStatements implements pg.Submittable {
  /** One result per statement, in order; settles after ReadyForQuery, when the connection can take the next query. */
  readonly done: Promise<StatementResult[]>;
  private readonly results: StatementResult[] = [];
  private rows: (string | null)[][] = [];
  private resolve!: (r: StatementResult[]) => void;
  private reject!: (e: unknown) => void;

  constructor(private readonly statements: readonly Statement[]) {
    if (statements.length === 0) throw new Error('no statements to send');
    // Copy-in mode would swallow the statements after it (pipelined-copy.ts is for COPY).
    if (statements.some((st) => /^\s*COPY\b/i.test(st.text))) throw new Error('COPY cannot be sent with pipelined statements');
    this.done = new Promise<StatementResult[]>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(pgConnection: pg.Connection): void {
    const connection = pgConnection as unknown as Connection;
    const s = connection.stream;
    s.cork();
    try {
      for (const st of this.statements) {
        connection.parse({ text: st.text });
        connection.bind({ values: st.values ?? [] });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '', rows: 0 });
      }
      connection.sync();
    } finally {
      s.uncork();
    }
  }

  handleRowDescription(): void {}

  handleDataRow(msg: { fields: (string | null)[] }): void {
    this.rows.push(msg.fields);
  }

  handleCommandComplete(msg: { text?: string }): void {
    const words = (msg.text ?? '').split(' ');
    const count = Number(words[words.length - 1]);
    this.results.push({ command: words[0] ?? '', rowCount: Number.isSafeInteger(count) ? count : 0, rows: this.rows });
    this.rows = [];
  }

  handleEmptyQuery(): void {
    this.results.push({ command: '', rowCount: 0, rows: [] });
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: { sendCopyFail(message: string): void; sync(): void }): void {
    // A COPY FROM STDIN the constructor did not recognise (behind a comment, say): copy-in mode ignored the Sync already
    // sent, so refuse the copy and send another, which ends the skipping that follows the ErrorResponse.
    connection.sendCopyFail('no data is sent with pipelined statements');
    connection.sync();
  }

  handleCopyData(): void {}

  handleReadyForQuery(): void {
    this.callback();
    if (this.results.length !== this.statements.length) this.reject(new Error(`${this.results.length} of ${this.statements.length} statements answered`));
    else this.resolve(this.results);
  }

  /** A server ErrorResponse (nothing after the failed statement ran) or the connection lost. */
  handleError(e: unknown): void {
    this.callback();
    this.reject(e);
  }

  /** pg wraps this with its query_timeout timer when one is configured; calling it clears the timer. */
  callback(): void {}
}
