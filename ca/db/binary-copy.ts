/**
 * Rows in PostgreSQL's binary COPY format (the "Binary Format" section of the COPY reference page), for bulk
 * inserts on the hot path: the server reads fixed-size integers and raw bytes instead of parsing array literals and
 * quoted hex, and the client writes into one buffer instead of building ten parameter arrays. Written here rather
 * than with pg-copy-streams-binary, whose per-row stream objects cost more than the inserts they replace; only
 * the types our tables use.
 */

/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z). */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const TWO_32 = 2 ** 32;

export class BinaryCopyWriter {
  private buf: Buffer;
  private at = 0;

  constructor(sizeHint = 4096) {
    this.buf = Buffer.allocUnsafe(Math.max(64, sizeHint));
    this.buf.set(SIGNATURE, 0);
    // Flags (no OIDs) and header-extension length, both zero.
    this.buf.writeUInt32BE(0, 11);
    this.buf.writeUInt32BE(0, 15);
    this.at = 19;
  }

  /** Starts a row of `fields` values; exactly that many value calls must follow. */
  row(fields: number): this {
    this.room(2);
    this.buf.writeInt16BE(fields, this.at);
    this.at += 2;
    return this;
  }

  int8(v: bigint): this {
    this.room(12);
    this.buf.writeInt32BE(8, this.at);
    this.buf.writeBigInt64BE(v, this.at + 4);
    this.at += 12;
    return this;
  }

  int4(v: number): this {
    this.room(8);
    this.buf.writeInt32BE(4, this.at);
    this.buf.writeInt32BE(v, this.at + 4);
    this.at += 8;
    return this;
  }

  /** timestamptz: int64 microseconds since 2000-01-01 UTC (integer datetimes, every server since 8.4). */
  timestamptz(d: Date): this {
    const ms = d.getTime();
    if (!Number.isFinite(ms)) throw new RangeError('invalid date');
    const us = (ms - PG_EPOCH_MS) * 1000;
    const hi = Math.floor(us / TWO_32);
    this.room(12);
    this.buf.writeInt32BE(8, this.at);
    this.buf.writeInt32BE(hi, this.at + 4);
    this.buf.writeUInt32BE(us - hi * TWO_32, this.at + 8);
    this.at += 12;
    return this;
  }

  /** text (and varchar): UTF-8, as the server's encoding is. */
  text(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    this.room(4 + n);
    this.buf.writeInt32BE(n, this.at);
    this.buf.write(s, this.at + 4, n, 'utf8');
    this.at += 4 + n;
    return this;
  }

  bytea(b: Uint8Array): this {
    this.room(4 + b.byteLength);
    this.buf.writeInt32BE(b.byteLength, this.at);
    this.buf.set(b, this.at + 4);
    this.at += 4 + b.byteLength;
    return this;
  }

  null(): this {
    this.room(4);
    this.buf.writeInt32BE(-1, this.at);
    this.at += 4;
    return this;
  }

  /** The whole COPY stream: header, rows, trailer. The writer is spent. */
  end(): Buffer {
    this.room(2);
    this.buf.writeInt16BE(-1, this.at);
    this.at += 2;
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
}
