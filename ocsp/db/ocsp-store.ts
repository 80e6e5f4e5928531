/**
 * What the responder reads and writes: the issuers it answers for, their delegated responder certificates, the
 * status of a serial, and the pre-signed responses (ocsp_responses). The responder never writes a certificate's
 * status; it only records signed answers about it.
 */
import type { Knex } from 'knex';

export type HashAlgorithm = 'sha1' | 'sha256';
export type StoredStatus = 'good' | 'revoked' | 'unknown';

export interface IssuerRow {
  id: number;
  name: string;
  status: 'active' | 'superseded';
  certificateDer: Uint8Array;
}

export interface ResponderRow {
  id: number;
  caId: number;
  keyLabel: string;
  keyId: string;
  keyType: string;
  spkiDer: Uint8Array;
  spkiSha256: string;
  certificateDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}

export interface SerialStatus {
  certificateId: number;
  caId: number;
  serial: string;
  /** The certificate row's state; a revocation row wins over it (reserved and failed rows can be revoked). */
  state: 'reserved' | 'issued' | 'revoked' | 'failed';
  notAfter: Date;
  createdAt: Date;
  revocation: { revokedAt: Date; reason: string } | null;
}

export interface StoredResponse {
  certificateId: number;
  caId: number;
  serial: string;
  hashAlgorithm: HashAlgorithm;
  certStatus: StoredStatus;
  der: Uint8Array;
  producedAt: Date;
  thisUpdate: Date;
  nextUpdate: Date;
  refreshAt: Date;
  responderId: number;
  revision: bigint;
}

export type NewResponse = Omit<StoredResponse, 'caId' | 'serial' | 'revision'>;

type Raw = Record<string, unknown>;

const STATUS_COLUMNS = ['c.id', 'c.ca_id', 'c.serial', 'c.status', 'c.not_after', 'c.created_at', 'r.revoked_at', 'r.reason'];
const RESPONSE_COLUMNS = ['o.certificate_id', 'c.ca_id', 'c.serial', 'o.hash_algorithm', 'o.cert_status', 'o.response_der', 'o.produced_at', 'o.this_update', 'o.next_update', 'o.refresh_at', 'o.responder_id', 'o.revision'];

function statusFromRaw(r: Raw): SerialStatus {
  return {
    certificateId: Number(r.id),
    caId: Number(r.ca_id),
    serial: r.serial as string,
    state: r.status as SerialStatus['state'],
    notAfter: r.not_after as Date,
    createdAt: r.created_at as Date,
    revocation: r.revoked_at ? { revokedAt: r.revoked_at as Date, reason: r.reason as string } : null,
  };
}

function responseFromRaw(r: Raw): StoredResponse {
  return {
    certificateId: Number(r.certificate_id),
    caId: Number(r.ca_id),
    serial: r.serial as string,
    hashAlgorithm: r.hash_algorithm as HashAlgorithm,
    certStatus: r.cert_status as StoredStatus,
    der: new Uint8Array(r.response_der as Uint8Array),
    producedAt: r.produced_at as Date,
    thisUpdate: r.this_update as Date,
    nextUpdate: r.next_update as Date,
    refreshAt: r.refresh_at as Date,
    responderId: Number(r.responder_id),
    revision: BigInt(r.revision as string | number),
  };
}

export class OcspStore {
  constructor(private readonly db: Knex) {}

  /** Issuers that still answer for what they issued: active and superseded (a retired CA answers nothing). */
  async issuers(): Promise<IssuerRow[]> {
    const rows = (await this.db('certificate_authorities').whereIn('status', ['active', 'superseded']).orderBy('id').select('id', 'name', 'status', 'certificate_der')) as Raw[];
    return rows.map((r) => ({ id: Number(r.id), name: r.name as string, status: r.status as IssuerRow['status'], certificateDer: new Uint8Array(r.certificate_der as Uint8Array) }));
  }

  /** Delegated responder certificates valid at `now`, newest first. */
  async responders(now: Date): Promise<ResponderRow[]> {
    const rows = (await this.db('service_certificates')
      .where({ purpose: 'ocsp', status: 'active' })
      .andWhere('not_before', '<=', now)
      .andWhere('not_after', '>', now)
      .orderBy('not_before', 'desc')
      .orderBy('id', 'desc')
      .select('id', 'ca_id', 'key_label', 'key_id', 'key_type', 'spki_der', 'spki_sha256', 'certificate_der', 'not_before', 'not_after')) as Raw[];
    return rows.map((r) => ({
      id: Number(r.id),
      caId: Number(r.ca_id),
      keyLabel: r.key_label as string,
      keyId: r.key_id as string,
      keyType: r.key_type as string,
      spkiDer: new Uint8Array(r.spki_der as Uint8Array),
      spkiSha256: r.spki_sha256 as string,
      certificateDer: new Uint8Array(r.certificate_der as Uint8Array),
      notBefore: r.not_before as Date,
      notAfter: r.not_after as Date,
    }));
  }

  async status(caId: number, serial: string): Promise<SerialStatus | undefined> {
    const r = (await this.db('certificates as c')
      .leftJoin('revocations as r', 'r.certificate_id', 'c.id')
      .where({ 'c.ca_id': caId, 'c.serial': serial })
      .first(STATUS_COLUMNS)) as Raw | undefined;
    return r ? statusFromRaw(r) : undefined;
  }

  async statusById(certificateId: number): Promise<SerialStatus | undefined> {
    const r = (await this.db('certificates as c').leftJoin('revocations as r', 'r.certificate_id', 'c.id').where('c.id', certificateId).first(STATUS_COLUMNS)) as Raw | undefined;
    return r ? statusFromRaw(r) : undefined;
  }

  /** The stored answers of these serials of one issuer, in one query; serials without one are left out. */
  async storedMany(caId: number, hashAlgorithm: HashAlgorithm, serials: readonly string[]): Promise<StoredResponse[]> {
    if (serials.length === 0) return [];
    const rows = (await this.db('ocsp_responses as o')
      .join('certificates as c', 'c.id', 'o.certificate_id')
      .where({ 'c.ca_id': caId, 'o.hash_algorithm': hashAlgorithm })
      .whereIn('c.serial', serials)
      .select(RESPONSE_COLUMNS)) as Raw[];
    return rows.map(responseFromRaw);
  }

  /** Inserts or replaces; the table's trigger keeps a revoked answer from being replaced by any other. */
  async save(rows: readonly NewResponse[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db('ocsp_responses')
      .insert(
        rows.map((r) => ({
          certificate_id: r.certificateId,
          hash_algorithm: r.hashAlgorithm,
          cert_status: r.certStatus,
          response_der: Buffer.from(r.der),
          produced_at: r.producedAt,
          this_update: r.thisUpdate,
          next_update: r.nextUpdate,
          refresh_at: r.refreshAt,
          responder_id: r.responderId,
        })),
      )
      .onConflict(['certificate_id', 'hash_algorithm'])
      .merge(['cert_status', 'response_der', 'produced_at', 'this_update', 'next_update', 'refresh_at', 'responder_id']);
  }

  /** Responses written after `revision` (by any process), oldest first: how a responder keeps its cache current. */
  async changedSince(revision: bigint, limit: number): Promise<StoredResponse[]> {
    const rows = (await this.db('ocsp_responses as o')
      .join('certificates as c', 'c.id', 'o.certificate_id')
      .where('o.revision', '>', revision.toString())
      .orderBy('o.revision')
      .limit(limit)
      .select(RESPONSE_COLUMNS)) as Raw[];
    return rows.map(responseFromRaw);
  }

  async latestRevision(): Promise<bigint> {
    const r = (await this.db('ocsp_responses').max('revision as m').first()) as Raw | undefined;
    return r?.m === null || r?.m === undefined ? 0n : BigInt(r.m as string | number);
  }

  /**
   * Certificates whose pre-signed (SHA-1 CertID) response is missing, due for refresh, or out of step with a
   * revocation (a crash between revoking and re-signing): unexpired and signed (issued or revoked) or failed after
   * signing, of issuers still answering. A responder rotation needs no sweep of its own: nextUpdate never passes
   * the responder certificate's notAfter, so the normal refresh moves every answer to the new one in time.
   *
   * This looks at every unexpired certificate (~95 ms at 100,000 on the two-core VM), so it is the sweep that
   * presign-cursor.ts runs now and then; the passes between use dueSince.
   */
  async due(now: Date, limit: number): Promise<SerialStatus[]> {
    const rows = (await this.dueBase(now)
      .andWhere((w) =>
        w
          .whereNull('o.certificate_id')
          .orWhere('o.refresh_at', '<=', now)
          .orWhere((x) => x.whereNotNull('r.revoked_at').andWhereNot('o.cert_status', 'revoked')),
      )
      .orderBy('c.id')
      .limit(limit)) as Raw[];
    return rows.map(statusFromRaw);
  }

  /**
   * What due() finds, for a pass that knows every certificate up to `afterId` already has its answer: missing
   * answers only among later certificates (the primary key's range), refreshes through the refresh_at index, and
   * revocations out of step through the revocations table — none of it a scan of every certificate.
   */
  async dueSince(now: Date, limit: number, afterId: number): Promise<SerialStatus[]> {
    const missing = this.dueBase(now).andWhere('c.id', '>', afterId).whereNull('o.certificate_id');
    const refresh = this.dueBase(now).andWhere('o.refresh_at', '<=', now);
    const revoked = this.dueBase(now)
      .whereNotNull('r.revoked_at')
      .andWhere((w) => w.whereNull('o.certificate_id').orWhereNot('o.cert_status', 'revoked'));
    const rows = (await missing.union([refresh, revoked]).orderBy('id').limit(limit)) as Raw[];
    return rows.map(statusFromRaw);
  }

  /**
   * Where the next dueSince may start, by the database's clock: the highest certificate id among rows at least
   * `settleSeconds` old (a row whose INSERT is still uncommitted has a lower id than committed ones and cannot be
   * seen yet), or just below the lowest one still reserved — an issuance in flight, which may yet be signed — among
   * those after `afterId` reserved within `lifetimeSeconds`. Older reservations are orphans of a crash; if one is
   * ever revoked, dueSince finds it through its revocation.
   */
  async presignWatermark(afterId: number, o: { settleSeconds: number; lifetimeSeconds: number }): Promise<number> {
    const r = (await this.db
      .select(
        this.db.raw(`(SELECT id FROM certificates WHERE created_at <= now() - make_interval(secs => ?) ORDER BY id DESC LIMIT 1) AS settled`, [o.settleSeconds]),
        this.db.raw(`(SELECT min(id) FROM certificates WHERE id > ? AND status = 'reserved' AND created_at > now() - make_interval(secs => ?)) AS reserved`, [afterId, o.lifetimeSeconds]),
      )
      .first()) as { settled: string | number | null; reserved: string | number | null };
    const settled = r.settled === null ? afterId : Number(r.settled);
    return r.reserved === null ? settled : Math.min(settled, Number(r.reserved) - 1);
  }

  private dueBase(now: Date) {
    return this.db('certificates as c')
      .join('certificate_authorities as a', 'a.id', 'c.ca_id')
      .leftJoin('revocations as r', 'r.certificate_id', 'c.id')
      .leftJoin('ocsp_responses as o', (j) => j.on('o.certificate_id', '=', 'c.id').andOnVal('o.hash_algorithm', '=', 'sha1'))
      .whereIn('a.status', ['active', 'superseded'])
      .whereIn('c.status', ['issued', 'revoked', 'failed'])
      .andWhere('c.not_after', '>', now)
      .select(STATUS_COLUMNS);
  }
}
