/**
 * crls: the published CRLs. A number is taken inside the transaction that stores the signed CRL, so a signing
 * failure consumes no number; the database trigger refuses any number not above every earlier one.
 */
import type { Knex } from 'knex';

export interface CrlRow {
  caId: number;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Uint8Array;
  createdAt: Date;
}

type Raw = { ca_id: number | string; crl_number: string | number; this_update: Date; next_update: Date; crl_der: Uint8Array; created_at: Date };

const fromRaw = (r: Raw): CrlRow => ({
  caId: Number(r.ca_id),
  crlNumber: BigInt(r.crl_number),
  thisUpdate: r.this_update,
  nextUpdate: r.next_update,
  der: new Uint8Array(r.crl_der),
  createdAt: r.created_at,
});

export class CrlStore {
  constructor(private readonly db: Knex) {}

  async latest(caId: number): Promise<CrlRow | undefined> {
    const r = (await this.db('crls').where({ ca_id: caId }).orderBy('crl_number', 'desc').first()) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /**
   * Takes the next number (locking the CA's row so concurrent publishers queue), lets `sign` produce the CRL for
   * it, and stores it — all or nothing.
   */
  async publish(
    caId: number,
    sign: (crlNumber: bigint) => Promise<{ der: Uint8Array; thisUpdate: Date; nextUpdate: Date }>,
    /** Runs in the same transaction once the CRL is stored (the audit entry): all or nothing. */
    then?: (row: CrlRow, trx: Knex.Transaction) => Promise<void>,
  ): Promise<CrlRow> {
    return this.db.transaction(async (trx) => {
      await trx('certificate_authorities').where({ id: caId }).forNoKeyUpdate().first('id');
      const top = (await trx('crls').where({ ca_id: caId }).max('crl_number as n').first()) as { n: string | number | null } | undefined;
      const next = top?.n === null || top?.n === undefined ? 1n : BigInt(top.n) + 1n;
      const signed = await sign(next);
      const [r] = (await trx('crls')
        .insert({ ca_id: caId, crl_number: next.toString(), this_update: signed.thisUpdate, next_update: signed.nextUpdate, crl_der: Buffer.from(signed.der) })
        .returning('*')) as Raw[];
      const row = fromRaw(r!);
      if (then) await then(row, trx);
      return row;
    });
  }
}
