/** api_clients: who may call the enrollment API, with a hash of their bearer token and what they are granted. */
import type { Knex } from 'knex';

export interface ClientRow {
  id: number;
  name: string;
  tokenHash: string;
  grants: unknown;
  createdAt: Date;
  revokedAt: Date | null;
}

type Raw = { id: number | string; name: string; token_hash: string; grants: unknown; created_at: Date; revoked_at: Date | null };

const fromRaw = (r: Raw): ClientRow => ({ id: Number(r.id), name: r.name, tokenHash: r.token_hash, grants: r.grants, createdAt: r.created_at, revokedAt: r.revoked_at });

export class ClientNameTaken extends Error {
  override readonly name = 'ClientNameTaken';
}

export class ClientStore {
  constructor(private readonly db: Knex) {}

  async insert(name: string, tokenHash: string, grants: unknown, then?: (row: ClientRow, trx: Knex.Transaction) => Promise<void>): Promise<ClientRow> {
    return this.db.transaction(async (trx) => {
      let raw: Raw;
      try {
        [raw] = (await trx('api_clients').insert({ name, token_hash: tokenHash, grants: JSON.stringify(grants) }).returning('*')) as Raw[] as [Raw];
      } catch (e) {
        if ((e as { code?: string }).code === '23505') throw new ClientNameTaken(`a client named "${name}" exists already`);
        throw e;
      }
      const row = fromRaw(raw);
      if (then) await then(row, trx);
      return row;
    });
  }

  /** Several tokens' rows in one query (concurrent requests' bearer tokens), by token hash. */
  async byTokenHashes(tokenHashes: readonly string[]): Promise<Map<string, ClientRow>> {
    const rows = (await this.db('api_clients').whereIn('token_hash', [...new Set(tokenHashes)])) as Raw[];
    return new Map(rows.map((r) => [r.token_hash, fromRaw(r)]));
  }

  async byName(name: string): Promise<ClientRow | undefined> {
    const r = (await this.db('api_clients').where({ name }).first()) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  async list(): Promise<ClientRow[]> {
    return ((await this.db('api_clients').select('*').orderBy('id')) as Raw[]).map(fromRaw);
  }

  async revoke(name: string, at: Date, then?: (trx: Knex.Transaction) => Promise<void>): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const n = await trx('api_clients').where({ name }).whereNull('revoked_at').update({ revoked_at: at });
      if (n === 1 && then) await then(trx);
      return n === 1;
    });
  }
}
