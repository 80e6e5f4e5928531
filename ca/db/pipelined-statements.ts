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
 * A pg submittable (pg-wire.ts).
 */
import type pg from 'pg';
import { prepareValue } from 'pg/lib/utils.js';
import { SettlingSubmittable } from './pg-wire.ts';

export interface Statement {
  /** With $1, $2 … placeholders. */
  text: string;
  /** Converted as pg.Client.query() converts them (pg's prepareValue): Buffers travel as bytea, Dates as ISO text. */
  values?: readonly unknown[];
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
  bind(m: { values: readonly unknown[]; valueMapper: (v: unknown) => unknown }): void;
  describe(m: { type: 'P'; name: string }): void;
  execute(m: { portal: string; rows: number }): void;
  sync(): void;
}

/** `done`: one result per statement, in order. */
export class PipelinedStatements extends SettlingSubmittable<StatementResult[]> implements pg.Submittable {
  private readonly results: StatementResult[] = [];
  private rows: (string | null)[][] = [];

  constructor(private readonly statements: readonly Statement[]) {
    super();
    if (statements.length === 0) throw new Error('no statements to send');
    // Copy-in mode would swallow the statements after it (pipelined-copy.ts is for COPY).
    if (statements.some((st) => /^\s*COPY\b/i.test(st.text))) throw new Error('COPY cannot be sent with pipelined statements');
  }

  submit(pgConnection: pg.Connection): void {
    const connection = pgConnection as unknown as Connection;
    const s = connection.stream;
    s.cork();
    try {
      for (const st of this.statements) {
        connection.parse({ text: st.text });
        connection.bind({ values: st.values ?? [], valueMapper: prepareValue });
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

  protected result(): StatementResult[] {
    if (this.results.length !== this.statements.length) throw new Error(`${this.results.length} of ${this.statements.length} statements answered`);
    return this.results;
  }
}
