/** certificate_authorities: the issuers this CA runs, their HSM keys by URI, and which one issues new certificates. */
import type { Knex } from 'knex';

export type AuthorityStatus = 'active' | 'superseded' | 'retired';

export interface AuthorityRow {
  id: number;
  name: string;
  subjectDn: string;
  certificateDer: Uint8Array;
  chainPem: string;
  spkiSha256: string;
  keyUri: string;
  status: AuthorityStatus;
  notBefore: Date | null;
  notAfter: Date | null;
  createdAt: Date;
}

export interface NewAuthority {
  name: string;
  subjectDn: string;
  certificateDer: Uint8Array;
  chainPem: string;
  spkiSha256: string;
  keyUri: string;
  notBefore: Date;
  notAfter: Date;
}

interface Raw {
  id: number | string;
  name: string;
  subject_dn: string;
  certificate_der: Uint8Array;
  chain_pem: string;
  spki_sha256: string;
  key_uri: string;
  status: AuthorityStatus;
  not_before: Date | null;
  not_after: Date | null;
  created_at: Date;
}

function fromRaw(r: Raw): AuthorityRow {
  return {
    id: Number(r.id),
    name: r.name,
    subjectDn: r.subject_dn,
    certificateDer: new Uint8Array(r.certificate_der),
    chainPem: r.chain_pem,
    spkiSha256: r.spki_sha256,
    keyUri: r.key_uri,
    status: r.status,
    notBefore: r.not_before,
    notAfter: r.not_after,
    createdAt: r.created_at,
  };
}

export class AuthorityStore {
  constructor(private readonly db: Knex) {}

  async list(): Promise<AuthorityRow[]> {
    return ((await this.db('certificate_authorities').select('*').orderBy('id')) as Raw[]).map(fromRaw);
  }

  async byName(name: string): Promise<AuthorityRow | undefined> {
    const r = (await this.db('certificate_authorities').where({ name }).first()) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  async active(): Promise<AuthorityRow | undefined> {
    const r = (await this.db('certificate_authorities').where({ status: 'active' }).first()) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /**
   * Adds an issuer. With `activate`, it becomes the issuer of new certificates and the previous active one is
   * superseded in the same transaction, so there is never a moment with two issuers or none.
   */
  async insert(a: NewAuthority, activate: boolean, onInserted?: (row: AuthorityRow, trx: Knex.Transaction) => Promise<void>): Promise<AuthorityRow> {
    return this.db.transaction(async (trx) => {
      if (activate) await trx('certificate_authorities').where({ status: 'active' }).update({ status: 'superseded' });
      const [r] = (await trx('certificate_authorities')
        .insert({
          name: a.name,
          subject_dn: a.subjectDn,
          certificate_der: Buffer.from(a.certificateDer),
          chain_pem: a.chainPem,
          spki_sha256: a.spkiSha256,
          key_uri: a.keyUri,
          status: activate ? 'active' : 'superseded',
          not_before: a.notBefore,
          not_after: a.notAfter,
        })
        .returning('*')) as Raw[];
      const row = fromRaw(r!);
      if (onInserted) await onInserted(row, trx);
      return row;
    });
  }

  async setStatus(name: string, status: AuthorityStatus): Promise<void> {
    await this.db.transaction(async (trx) => {
      if (status === 'active') await trx('certificate_authorities').where({ status: 'active' }).whereNot({ name }).update({ status: 'superseded' });
      await trx('certificate_authorities').where({ name }).update({ status });
    });
  }
}
