/**
 * timestamps and the timestamp_serial sequence (migrations/20261128150000_timestamps.ts): serials reserved in
 * batches, every issued token inserted (a batch per statement), a token looked up by serial, and the database's
 * clock as a reference for the TSA's drift check.
 */
import type { Knex } from 'knex';

/** One issued token as recorded: serial, time, policy and imprint, and the token itself. */
export interface TimestampRecord {
  serial: bigint;
  genTime: Date;
  /** Dotted OID. */
  policy: string;
  hashAlgorithm: 'sha256' | 'sha384' | 'sha512';
  imprint: Uint8Array;
  /** The request's nonce, INTEGER contents octets; undefined when it had none. */
  nonce: Uint8Array | undefined;
  tsaCertSha256: string;
  /**
   * The TimeStampToken (ContentInfo), DER, without the certificates field: that field is not signed, the
   * certificate is named by tsaCertSha256, and leaving it out halves what every token writes.
   */
  tokenDer: Uint8Array;
}
export interface StoredTimestamp extends TimestampRecord {
  createdAt: Date;
}

type Raw = {
  serial: string;
  gen_time: Date;
  policy: string;
  hash_algorithm: TimestampRecord['hashAlgorithm'];
  imprint: Uint8Array;
  nonce: Uint8Array | null;
  tsa_cert_sha256: string;
  token_der: Uint8Array;
  created_at: Date;
};

const INSERT = `INSERT INTO timestamps (serial, gen_time, policy, hash_algorithm, imprint, nonce, tsa_cert_sha256, token_der)
  SELECT * FROM unnest(?::bigint[], ?::timestamptz[], ?::text[], ?::text[], ?::bytea[], ?::bytea[], ?::text[], ?::bytea[])`;

const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export class TimestampStore {
  constructor(private readonly db: Knex) {}

  /** `n` fresh values of the sequence, in one statement. */
  async reserveSerials(n: number): Promise<bigint[]> {
    const { rows } = (await this.db.raw(`SELECT nextval('timestamp_serial')::text AS s FROM generate_series(1, ?::int)`, [n])) as { rows: { s: string }[] };
    return rows.map((r) => BigInt(r.s));
  }

  /**
   * One statement per batch, its text the same whatever the batch size: columns as arrays, unnested (measured
   * cheaper than a multi-row VALUES list, whose thousands of parameters the server parses on every flush).
   */
  async insertMany(records: readonly TimestampRecord[]): Promise<void> {
    if (records.length === 0) return;
    const cols: unknown[][] = [[], [], [], [], [], [], [], []];
    for (const r of records) {
      cols[0]!.push(r.serial.toString());
      cols[1]!.push(r.genTime.toISOString());
      cols[2]!.push(r.policy);
      cols[3]!.push(r.hashAlgorithm);
      cols[4]!.push(asBuffer(r.imprint));
      cols[5]!.push(r.nonce ? asBuffer(r.nonce) : null);
      cols[6]!.push(r.tsaCertSha256);
      cols[7]!.push(asBuffer(r.tokenDer));
    }
    await this.db.raw(INSERT, cols as Knex.RawBinding[]);
  }

  async bySerial(serial: bigint): Promise<StoredTimestamp | undefined> {
    const r = (await this.db('timestamps')
      .select(this.db.raw('serial::text AS serial'), 'gen_time', 'policy', 'hash_algorithm', 'imprint', 'nonce', 'tsa_cert_sha256', 'token_der', 'created_at')
      .where('serial', serial.toString())
      .first()) as Raw | undefined;
    if (!r) return undefined;
    return {
      serial: BigInt(r.serial),
      genTime: r.gen_time,
      policy: r.policy,
      hashAlgorithm: r.hash_algorithm,
      imprint: new Uint8Array(r.imprint),
      nonce: r.nonce ? new Uint8Array(r.nonce) : undefined,
      tsaCertSha256: r.tsa_cert_sha256,
      tokenDer: new Uint8Array(r.token_der),
      createdAt: r.created_at,
    };
  }

  /** The database server's clock (clock_timestamp(): the moment of the call, not of the transaction). */
  async databaseTime(): Promise<Date> {
    const { rows } = (await this.db.raw(`SELECT (extract(epoch from clock_timestamp()) * 1000)::float8 AS ms`)) as { rows: { ms: number | string }[] };
    return new Date(Number(rows[0]!.ms));
  }
}
