/**
 * A `COPY … FROM STDIN` whose data is all in hand, sent in one write: the Query, the CopyData and the CopyDone
 * together, instead of waiting for the server's CopyInResponse before sending the data (as a COPY stream, for data
 * still coming, must; pg-copy-streams was used here before). One round trip and one write per batch instead of two
 * and three: on a two-core virtual machine each loopback write cost ~85 µs of the TSA's main thread (it wakes the
 * server's process), the largest single cost of recording a batch of tokens (bench/tsa-bench.ts).
 *
 * Safe by the protocol: when the COPY fails before copy-in starts (a bad table, a lost privilege), the server answers
 * ErrorResponse and ReadyForQuery, and its main loop accepts and ignores the CopyData and CopyDone that follow
 * ("Accept but ignore these messages, per protocol spec", postgres.c); a failure during the copy (a refused row)
 * rolls the whole COPY back, as before.
 *
 * A pg submittable (pg-wire.ts).
 */
import type pg from 'pg';
import { SettlingSubmittable } from './pg-wire.ts';

/** The part of pg's Connection a submittable gets (pg/lib/connection.js). */
interface Connection {
  stream: { cork(): void; uncork(): void; write(b: Uint8Array): boolean };
  query(text: string): void;
}

const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]);

/** `done`: the rows the server reports copied. */
export class PipelinedCopy extends SettlingSubmittable<number> implements pg.Submittable {
  private rows = 0;

  /** `data`: the whole COPY payload (binary-copy.ts), header to trailer. */
  constructor(
    private readonly text: string,
    private readonly data: Buffer,
  ) {
    super();
  }

  submit(connection: Connection): void {
    const header = Buffer.allocUnsafe(5);
    header[0] = 0x64; // CopyData
    header.writeUInt32BE(this.data.byteLength + 4, 1);
    const s = connection.stream;
    s.cork();
    connection.query(this.text);
    s.write(header);
    s.write(this.data);
    s.write(COPY_DONE);
    s.uncork();
  }

  handleCopyInResponse(): void {
    // The data went with the query.
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /^COPY (\d+)$/.exec(msg.text ?? '');
    if (m) this.rows = Number(m[1]);
  }

  protected result(): number {
    return this.rows;
  }
}
