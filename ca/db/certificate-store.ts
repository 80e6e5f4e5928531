/**
 * certificates + revocations: serial reservation before the HSM signs, the signed certificate after, lookups for
 * the API, OCSP-relevant status, and the key-compromise blocklist.
 */
import type { Knex } from 'knex';
import { appendLockedMany, type ChainHead, type NewAuditRow } from './audit-store.ts';
import { checkIssuedCount, commitIssued, issuedUpdate, type IssuedItem } from './issued-commit.ts';
import { speaksPgWire } from './pg-wire.ts';

export type CertificateStatus = 'reserved' | 'issued' | 'failed' | 'revoked';

export interface Reservation {
  caId: number;
  serial: string;
  tbsDer: Uint8Array;
  subjectDn: string;
  sans: string[];
  profile: string;
  clientId: number | null;
  idempotencyKey: string | null;
  csrSha256: string | null;
  spkiSha256: string;
  notBefore: Date;
  notAfter: Date;
}

export interface CertificateRow {
  id: number;
  caId: number;
  serial: string;
  status: CertificateStatus;
  certificateDer: Uint8Array | null;
  subjectDn: string;
  sans: string[];
  profile: string;
  clientId: number | null;
  idempotencyKey: string | null;
  csrSha256: string | null;
  spkiSha256: string;
  notBefore: Date;
  notAfter: Date;
  issuedAt: Date | null;
  /** When the serial was reserved (the row's creation). */
  reservedAt: Date;
  revocation: { revokedAt: Date; reason: string; invalidityDate: Date | null } | null;
}

export class SerialTaken extends Error {
  override readonly name = 'SerialTaken';
}
export class IdempotencyKeyTaken extends Error {
  override readonly name = 'IdempotencyKeyTaken';
}

const COLUMNS = [
  'c.id',
  'c.ca_id',
  'c.serial',
  'c.status',
  'c.certificate_der',
  'c.subject_dn',
  'c.sans',
  'c.profile',
  'c.client_id',
  'c.idempotency_key',
  'c.csr_sha256',
  'c.spki_sha256',
  'c.not_before',
  'c.not_after',
  'c.issued_at',
  'c.created_at',
  'r.revoked_at',
  'r.reason',
  'r.invalidity_date',
];

type Raw = Record<string, unknown>;

function fromRaw(r: Raw): CertificateRow {
  return {
    id: Number(r.id),
    caId: Number(r.ca_id),
    serial: r.serial as string,
    status: r.status as CertificateStatus,
    certificateDer: r.certificate_der ? new Uint8Array(r.certificate_der as Uint8Array) : null,
    subjectDn: r.subject_dn as string,
    sans: r.sans as string[],
    profile: r.profile as string,
    clientId: r.client_id === null ? null : Number(r.client_id),
    idempotencyKey: (r.idempotency_key as string | null) ?? null,
    csrSha256: (r.csr_sha256 as string | null) ?? null,
    spkiSha256: r.spki_sha256 as string,
    notBefore: r.not_before as Date,
    notAfter: r.not_after as Date,
    issuedAt: (r.issued_at as Date | null) ?? null,
    reservedAt: r.created_at as Date,
    revocation: r.revoked_at ? { revokedAt: r.revoked_at as Date, reason: r.reason as string, invalidityDate: (r.invalidity_date as Date | null) ?? null } : null,
  };
}

/** The certificates row of a reservation: the serial taken, the TBS recorded, nothing signed yet. */
function reservationRow(r: Reservation) {
  return {
    ca_id: r.caId,
    serial: r.serial,
    status: 'reserved',
    tbs_der: Buffer.from(r.tbsDer),
    subject_dn: r.subjectDn,
    sans: JSON.stringify(r.sans),
    profile: r.profile,
    client_id: r.clientId,
    idempotency_key: r.idempotencyKey,
    csr_sha256: r.csrSha256,
    spki_sha256: r.spkiSha256,
    not_before: r.notBefore,
    not_after: r.notAfter,
  };
}

function constraintOf(e: unknown): string | undefined {
  const err = e as { code?: string; constraint?: string };
  return err.code === '23505' ? err.constraint : undefined;
}

/** A revoked, unexpired certificate as a CRL lists it. */
export interface RevokedForCrl {
  serial: string;
  revokedAt: Date;
  reason: string;
  invalidityDate: Date | null;
}

export class CertificateStore {
  /** On a PostgreSQL server the group commit of issued certificates is pipelined (issued-commit.ts). */
  private readonly pipelines: boolean;

  constructor(private readonly db: Knex) {
    this.pipelines = speaksPgWire(db);
  }

  private query(db: Knex | Knex.Transaction = this.db) {
    return db('certificates as c').leftJoin('revocations as r', 'r.certificate_id', 'c.id').select(COLUMNS);
  }

  /** Takes the serial and records the TBS, committed before the HSM is asked to sign anything. */
  async reserve(r: Reservation): Promise<number> {
    try {
      const [row] = (await this.db('certificates').insert(reservationRow(r)).returning('id')) as { id: number | string }[];
      return Number(row!.id);
    } catch (e) {
      const c = constraintOf(e);
      if (c === 'certificates_serial_unique') throw new SerialTaken('serial already taken');
      if (c === 'certificates_idempotency_unique') throw new IdempotencyKeyTaken('idempotency key already used');
      throw e;
    }
  }

  /**
   * reserve for several at once (one INSERT, one round trip): ids in the order given. All or none: any conflict
   * (serial, idempotency key) fails the whole statement with the database's error, and nothing is reserved.
   */
  async reserveMany(rs: readonly Reservation[]): Promise<number[]> {
    if (rs.length === 0) return [];
    const rows = (await this.db('certificates')
      .insert(rs.map(reservationRow))
      .returning(['id', 'ca_id', 'serial'])) as { id: number | string; ca_id: number | string; serial: string }[];
    const ids = new Map(rows.map((row) => [`${Number(row.ca_id)}:${row.serial}`, Number(row.id)]));
    return rs.map((r) => {
      const id = ids.get(`${r.caId}:${r.serial}`);
      if (id === undefined) throw new Error('a reservation was not returned');
      return id;
    });
  }

  /** Which of these SPKI hashes belong to keys revoked for keyCompromise (isCompromisedKey for many, one query). */
  async compromisedKeys(spkiSha256s: readonly string[]): Promise<Set<string>> {
    if (spkiSha256s.length === 0) return new Set();
    const rows = (await this.db('certificates as c')
      .join('revocations as r', 'r.certificate_id', 'c.id')
      .whereIn('c.spki_sha256', [...new Set(spkiSha256s)])
      .andWhere('r.reason', 'keyCompromise')
      .distinct('c.spki_sha256')) as { spki_sha256: string }[];
    return new Set(rows.map((r) => r.spki_sha256));
  }

  /** Stores the signed certificate; `then` runs in the same transaction (the audit entry). */
  async markIssued(id: number, der: Uint8Array, issuedAt: Date, then?: (trx: Knex.Transaction) => Promise<void>): Promise<void> {
    await this.db.transaction(async (trx) => {
      const n = await trx('certificates').where({ id, status: 'reserved' }).update({ status: 'issued', certificate_der: Buffer.from(der), issued_at: issuedAt });
      if (n !== 1) throw new Error(`certificate ${id} is not reserved`);
      if (then) await then(trx);
    });
  }

  /**
   * markIssued for several reservations (group commit) with the audit entries `build` makes (audit-store.ts,
   * appendLockedMany), in one transaction: one UPDATE for all of them, then the entries. All or none: if any of them
   * is not reserved, nothing is stored. On a PostgreSQL server in two writes and two round trips rather than six
   * (issued-commit.ts); on PGlite, which has no wire to save, through knex.
   */
  async markIssuedManyWithAudit(items: readonly IssuedItem[], build: (head: ChainHead, at: string) => NewAuditRow[]): Promise<void> {
    if (items.length === 0) return;
    if (this.pipelines) return commitIssued(this.db, items, build);
    await this.db.transaction(async (trx) => {
      const update = issuedUpdate(items);
      const { rows } = (await trx.raw(update.sql, update.values)) as { rows: unknown[] };
      checkIssuedCount(items.length, rows.length);
      await appendLockedMany(this.db, trx, build);
    });
  }

  async markFailed(id: number): Promise<void> {
    await this.db('certificates').where({ id, status: 'reserved' }).update({ status: 'failed' });
  }

  async bySerial(serial: string, caId?: number): Promise<CertificateRow | undefined> {
    const q = this.query().where('c.serial', serial);
    if (caId !== undefined) q.andWhere('c.ca_id', caId);
    const rows = (await q) as Raw[];
    return rows[0] ? fromRaw(rows[0]) : undefined;
  }

  async byIdempotencyKey(clientId: number, key: string): Promise<CertificateRow | undefined> {
    const r = (await this.query().where({ 'c.client_id': clientId, 'c.idempotency_key': key }).first()) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /** A key once revoked for keyCompromise is never certified again, under any CA. */
  async isCompromisedKey(spkiSha256: string): Promise<boolean> {
    const r = await this.db('certificates as c')
      .join('revocations as r', 'r.certificate_id', 'c.id')
      .where({ 'c.spki_sha256': spkiSha256, 'r.reason': 'keyCompromise' })
      .first('c.id');
    return r !== undefined;
  }

  /**
   * Records a revocation; false when it was revoked already. Reserved and failed rows can be revoked too: a serial
   * the HSM may have signed is never left unrevocable.
   */
  async revoke(id: number, reason: string, revokedAt: Date, by: string, then?: (trx: Knex.Transaction) => Promise<void>): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const inserted = (await trx('revocations').insert({ certificate_id: id, reason, revoked_at: revokedAt, revoked_by: by }).onConflict('certificate_id').ignore().returning('certificate_id')) as unknown[];
      if (inserted.length === 0) return false;
      await trx('certificates').where({ id, status: 'issued' }).update({ status: 'revoked' });
      if (then) await then(trx);
      return true;
    });
  }

  /** Revoked serials a CRL must list: revoked, of this CA, not yet expired at `now`. */
  async revokedForCrl(caId: number, now: Date): Promise<RevokedForCrl[]> {
    const rows = (await this.db('certificates as c')
      .join('revocations as r', 'r.certificate_id', 'c.id')
      .where('c.ca_id', caId)
      .andWhere('c.not_after', '>', now)
      .orderBy('r.revoked_at')
      .select('c.serial', 'r.revoked_at', 'r.reason', 'r.invalidity_date')) as Raw[];
    return rows.map((r) => ({ serial: r.serial as string, revokedAt: r.revoked_at as Date, reason: r.reason as string, invalidityDate: (r.invalidity_date as Date | null) ?? null }));
  }

  /** Reservations never completed (process killed mid-issuance): listed for operators, revocable, answered by OCSP. */
  async orphanedReservations(olderThan: Date): Promise<CertificateRow[]> {
    return ((await this.query().where('c.status', 'reserved').andWhere('c.created_at', '<', olderThan).orderBy('c.created_at')) as Raw[]).map(fromRaw);
  }
}
