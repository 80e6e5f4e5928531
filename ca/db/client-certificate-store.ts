/**
 * api_client_certificates (migrations/20261128141000_client_certificates.ts): which certificate authenticates which
 * API client over HTTPS. Lookups match the presented certificate byte for byte against the one we issued, so only
 * that exact certificate speaks for the client, never another with the same serial or subject.
 */
import type { Knex } from 'knex';

export interface CertificateClient {
  clientId: number;
  clientName: string;
  grants: unknown;
  clientRevokedAt: Date | null;
  certificateStatus: string;
  revoked: boolean;
  notBefore: Date;
  notAfter: Date;
}

export class ClientCertificateNotBindable extends Error {
  override readonly name = 'ClientCertificateNotBindable';
}

export class ClientCertificateStore {
  constructor(private readonly db: Knex) {}

  /**
   * Binds an issued tls-client certificate (by CA and serial) to a client; `then` runs in the same transaction (the
   * audit entry). Refuses a certificate that is not an issued tls-client one, or is bound already.
   */
  async bind(clientId: number, caId: number, serial: string, by: string, then?: (trx: Knex.Transaction, certificateId: number) => Promise<void>): Promise<number> {
    return this.db.transaction(async (trx) => {
      const cert = (await trx('certificates').where({ ca_id: caId, serial }).first('id', 'status', 'profile')) as { id: number | string; status: string; profile: string } | undefined;
      if (!cert) throw new ClientCertificateNotBindable('no such certificate');
      if (cert.status !== 'issued' || cert.profile !== 'tls-client') throw new ClientCertificateNotBindable(`only an issued tls-client certificate can authenticate a client (this one: ${cert.status}, ${cert.profile})`);
      const inserted = (await trx('api_client_certificates').insert({ certificate_id: cert.id, client_id: clientId, created_by: by }).onConflict('certificate_id').ignore().returning('certificate_id')) as unknown[];
      if (inserted.length === 0) throw new ClientCertificateNotBindable('this certificate is bound to a client already');
      if (then) await then(trx, Number(cert.id));
      return Number(cert.id);
    });
  }

  /** The client this exact certificate (DER) is bound to, with what decides whether it may authenticate. */
  async clientOf(serial: string, der: Uint8Array): Promise<CertificateClient | undefined> {
    const r = (await this.db('certificates as c')
      .join('api_client_certificates as b', 'b.certificate_id', 'c.id')
      .join('api_clients as a', 'a.id', 'b.client_id')
      .leftJoin('revocations as r', 'r.certificate_id', 'c.id')
      .where('c.serial', serial)
      .andWhere('c.certificate_der', Buffer.from(der))
      .first('a.id', 'a.name', 'a.grants', 'a.revoked_at', 'c.status', 'c.not_before', 'c.not_after', 'r.certificate_id as revoked')) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      clientId: Number(r.id),
      clientName: r.name as string,
      grants: r.grants,
      clientRevokedAt: (r.revoked_at as Date | null) ?? null,
      certificateStatus: r.status as string,
      revoked: r.revoked !== null && r.revoked !== undefined,
      notBefore: r.not_before as Date,
      notAfter: r.not_after as Date,
    };
  }
}
