/**
 * service_certificates (migrations/20261128140000_service_certificates.ts): the keys and certificates the CA issues
 * to its own services. A service uses its newest active row valid now; older rows stay active until they expire
 * (answers they signed keep verifying), then are retired once their key is destroyed.
 */
import type { Knex } from 'knex';

export const SERVICE_PURPOSES = ['ocsp', 'tsa', 'https'] as const;
export type ServicePurpose = (typeof SERVICE_PURPOSES)[number];

/** A caller's open transaction, opaque outside ca/db/ (the issuance commit that records the row). */
export type ServiceTrx = Knex.Transaction;

export interface NewServiceCertificate {
  caId: number;
  purpose: ServicePurpose;
  keyLabel: string;
  /** CKA_ID, lowercase hex. */
  keyId: string;
  keyType: string;
  spki: Uint8Array;
  spkiSha256: string;
  certificateId: number;
  certificateDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}

export interface ServiceCertificateRow extends NewServiceCertificate {
  id: number;
  status: 'active' | 'retired';
  createdAt: Date;
}

interface Raw {
  id: number | string;
  ca_id: number | string;
  purpose: ServicePurpose;
  key_label: string;
  key_id: string;
  key_type: string;
  spki_der: Uint8Array;
  spki_sha256: string;
  certificate_id: number | string;
  certificate_der: Uint8Array;
  not_before: Date;
  not_after: Date;
  status: 'active' | 'retired';
  created_at: Date;
}

function fromRaw(r: Raw): ServiceCertificateRow {
  return {
    id: Number(r.id),
    caId: Number(r.ca_id),
    purpose: r.purpose,
    keyLabel: r.key_label,
    keyId: r.key_id,
    keyType: r.key_type,
    spki: new Uint8Array(r.spki_der),
    spkiSha256: r.spki_sha256,
    certificateId: Number(r.certificate_id),
    certificateDer: new Uint8Array(r.certificate_der),
    notBefore: r.not_before,
    notAfter: r.not_after,
    status: r.status,
    createdAt: r.created_at,
  };
}

export class ServiceCertificateStore {
  constructor(private readonly db: Knex) {}

  /** In `trx` when given: the row commits with the certificate it records (issuance's commit). */
  async insert(row: NewServiceCertificate, trx?: ServiceTrx): Promise<number> {
    const [r] = (await (trx ?? this.db)('service_certificates')
      .insert({
        ca_id: row.caId,
        purpose: row.purpose,
        key_label: row.keyLabel,
        key_id: row.keyId,
        key_type: row.keyType,
        spki_der: Buffer.from(row.spki),
        spki_sha256: row.spkiSha256,
        certificate_id: row.certificateId,
        certificate_der: Buffer.from(row.certificateDer),
        not_before: row.notBefore,
        not_after: row.notAfter,
      })
      .returning('id')) as { id: number | string }[];
    return Number(r!.id);
  }

  async byId(id: number): Promise<ServiceCertificateRow | undefined> {
    const r = (await this.db('service_certificates').where({ id }).first()) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /** Rows, newest first; filtered by purpose, issuer and status when given. */
  async list(filter: { purpose?: ServicePurpose; caId?: number; status?: 'active' | 'retired' } = {}): Promise<ServiceCertificateRow[]> {
    const q = this.db('service_certificates').select('*').orderBy('id', 'desc');
    if (filter.purpose) q.where('purpose', filter.purpose);
    if (filter.caId !== undefined) q.where('ca_id', filter.caId);
    if (filter.status) q.where('status', filter.status);
    return ((await q) as Raw[]).map(fromRaw);
  }

  /** The newest active row valid at `now` (not_before ≤ now < not_after), or undefined. */
  async current(purpose: ServicePurpose, caId: number, now: Date): Promise<ServiceCertificateRow | undefined> {
    const r = (await this.db('service_certificates')
      .where({ purpose, ca_id: caId, status: 'active' })
      .andWhere('not_before', '<=', now)
      .andWhere('not_after', '>', now)
      .orderBy('id', 'desc')
      .first()) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /** Active rows past their notAfter at `now`: to retire once their keys are destroyed. */
  async expired(now: Date): Promise<ServiceCertificateRow[]> {
    return ((await this.db('service_certificates').where({ status: 'active' }).andWhere('not_after', '<=', now).orderBy('id')) as Raw[]).map(fromRaw);
  }

  /** False when the row was retired already. */
  async retire(id: number): Promise<boolean> {
    const n = await this.db('service_certificates').where({ id, status: 'active' }).update({ status: 'retired' });
    return n === 1;
  }
}
