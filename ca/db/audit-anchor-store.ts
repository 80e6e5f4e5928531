/**
 * audit_anchors (migrations/20261128150000_timestamps.ts): audit-log heads with the TSA token over each, appended
 * on a schedule and read back in seq order by `strongroom audit verify`.
 */
import type { Knex } from 'knex';

export interface AuditAnchor {
  seq: number;
  headHash: string;
  tsaSerial: bigint;
  genTime: Date;
  tokenDer: Uint8Array;
}

type Raw = { seq: number | bigint; head_hash: string; tsa_serial: string; gen_time: Date; token_der: Uint8Array };

const fromRaw = (r: Raw): AuditAnchor => ({ seq: Number(r.seq), headHash: r.head_hash, tsaSerial: BigInt(r.tsa_serial), genTime: r.gen_time, tokenDer: new Uint8Array(r.token_der) });

export class AuditAnchorStore {
  constructor(private readonly db: Knex) {}

  async insert(a: AuditAnchor): Promise<void> {
    await this.db('audit_anchors').insert({ seq: a.seq, head_hash: a.headHash, tsa_serial: a.tsaSerial.toString(), gen_time: a.genTime, token_der: Buffer.from(a.tokenDer) });
  }

  async latest(): Promise<AuditAnchor | undefined> {
    const r = (await this.columns().orderBy('seq', 'desc').orderBy('id', 'desc').first()) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /** Every anchor in seq order (one an hour is under 9,000 a year: read at once). */
  async all(): Promise<AuditAnchor[]> {
    return ((await this.columns().orderBy('seq').orderBy('id')) as Raw[]).map(fromRaw);
  }

  private columns() {
    return this.db('audit_anchors').select('seq', 'head_hash', this.db.raw('tsa_serial::text AS tsa_serial'), 'gen_time', 'token_der');
  }
}
