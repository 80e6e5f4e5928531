/**
 * crls: the published CRLs, complete and delta. A number is taken inside the transaction that stores the signed
 * CRL, so a signing failure consumes no number; the database trigger refuses any number not above every earlier one,
 * complete or delta (they share the sequence).
 */
import type { Knex } from 'knex';

export interface CrlRow {
  caId: number;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Uint8Array;
  createdAt: Date;
  /** A delta CRL's base (the complete CRL it adds to); undefined for a complete CRL. */
  deltaBase?: bigint;
}

type Raw = { ca_id: number | string; crl_number: string | number; this_update: Date; next_update: Date; crl_der: Uint8Array; created_at: Date; delta_base: string | number | null };

const fromRaw = (r: Raw): CrlRow => ({
  caId: Number(r.ca_id),
  crlNumber: BigInt(r.crl_number),
  thisUpdate: r.this_update,
  nextUpdate: r.next_update,
  der: new Uint8Array(r.crl_der),
  createdAt: r.created_at,
  ...(r.delta_base !== null && r.delta_base !== undefined ? { deltaBase: BigInt(r.delta_base) } : {}),
});

export class CrlStore {
  constructor(private readonly db: Knex) {}

  /** The newest complete CRL. */
  async latest(caId: number): Promise<CrlRow | undefined> {
    const r = (await this.db('crls').where({ ca_id: caId }).whereNull('delta_base').orderBy('crl_number', 'desc').first()) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /** The newest delta CRL. */
  async latestDelta(caId: number): Promise<CrlRow | undefined> {
    const r = (await this.db('crls').where({ ca_id: caId }).whereNotNull('delta_base').orderBy('crl_number', 'desc').first()) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /**
   * The base for the next delta: the oldest complete CRL still within its validity at `now`, so that any relying
   * party holding a complete CRL it may still use (numbered at least that) can apply the delta; the newest complete
   * one when none is.
   */
  async deltaBase(caId: number, now: Date): Promise<CrlRow | undefined> {
    const r = (await this.db('crls').where({ ca_id: caId }).whereNull('delta_base').where('next_update', '>', now).orderBy('crl_number', 'asc').first()) as Raw | undefined;
    return r ? fromRaw(r) : this.latest(caId);
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
    /** A delta CRL of this complete CRL's number. */
    deltaBase?: bigint,
  ): Promise<CrlRow> {
    return this.db.transaction(async (trx) => {
      await trx('certificate_authorities').where({ id: caId }).forNoKeyUpdate().first('id');
      const top = (await trx('crls').where({ ca_id: caId }).max('crl_number as n').first()) as { n: string | number | null } | undefined;
      const next = top?.n === null || top?.n === undefined ? 1n : BigInt(top.n) + 1n;
      const signed = await sign(next);
      const [r] = (await trx('crls')
        .insert({
          ca_id: caId,
          crl_number: next.toString(),
          this_update: signed.thisUpdate,
          next_update: signed.nextUpdate,
          crl_der: Buffer.from(signed.der),
          delta_base: deltaBase === undefined ? null : deltaBase.toString(),
        })
        .returning('*')) as Raw[];
      const row = fromRaw(r!);
      if (then) await then(row, trx);
      return row;
    });
  }
}
