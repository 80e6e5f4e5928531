/**
 * Certificate status and revocation for the API. A client sees and revokes the certificates it obtained; an admin
 * client all of them. To a client, a certificate it did not obtain does not exist (404, exactly as for an unknown
 * serial), so the API cannot be used to probe which serials were issued to others.
 *
 * A revocation is recorded together with its audit entry in one transaction; then the issuer's CRL is scheduled
 * for regeneration (onRevoked). Reserved and failed rows (a signature the HSM may have made but that was never
 * returned) can be revoked too. A key revoked for keyCompromise is refused at every later issuance
 * (CertificateStore.isCompromisedKey, checked by IssuanceService).
 */
import type { AuditLog } from '../audit/index.ts';
import type { CertificateRow, CertificateStatus, CertificateStore } from '../db/certificate-store.ts';
import { IssuanceError } from '../issuance/issuance-error.ts';
import type { IssuerRegistry } from '../issuance/issuer-registry.ts';
import { ADMIN_ONLY_REASONS, isRevocationReason, REFUSED_REASONS } from './reasons.ts';

export interface CertificateActor {
  /** The API client's id; null for an operator at the CLI. */
  id: number | null;
  name: string;
  admin: boolean;
}

export interface CertificateView {
  serial: string;
  /** The issuer's name; null when the issuer was retired. */
  ca: string | null;
  status: CertificateStatus;
  profile: string;
  subject: string;
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  issuedAt: Date | null;
  revocation: { revokedAt: Date; reason: string } | null;
  /** DER, when a certificate was issued. */
  certificate: Uint8Array | null;
}

export interface RevocationDeps {
  certificates: CertificateStore;
  issuers: Pick<IssuerRegistry, 'byId'>;
  audit: AuditLog;
  clock: () => Date;
  /** Called after a revocation has committed, with the issuer's id: schedule its CRL. */
  onRevoked?: (caId: number) => void;
  /**
   * Awaited before revoke() returns: the OCSP answer is re-signed so that the very next OCSP request says revoked.
   * A failure here does not undo the revocation (it is committed); the caller is told through `warn`.
   */
  afterRevoke?: (caId: number, serial: string) => Promise<void>;
  warn?: (message: string, err: unknown) => void;
}

/** Serials as the API spells them: hex, any case, leading zeros tolerated; stored as lowercase without them. */
export function normalizeSerial(text: string): string {
  if (!/^[0-9a-fA-F]{1,40}$/.test(text)) throw new IssuanceError('bad_request', 'a serial is 1 to 40 hexadecimal digits');
  const s = text.toLowerCase().replace(/^0+/, '');
  if (s === '') throw new IssuanceError('bad_request', 'a serial is a positive number');
  return s;
}

const unavailable = () => new IssuanceError('unavailable', 'the certificate database is unavailable; try again', 5);

export class RevocationService {
  constructor(private readonly deps: RevocationDeps) {}

  async view(serialText: string, actor: CertificateActor): Promise<CertificateView> {
    return this.toView(await this.visible(serialText, actor));
  }

  /**
   * Revokes; `revoked` is false when the certificate was revoked already (the first reason and date stand).
   */
  async revoke(serialText: string, reason: unknown, actor: CertificateActor): Promise<{ view: CertificateView; revoked: boolean }> {
    if (!isRevocationReason(reason)) throw new IssuanceError('bad_request', 'reason must be one of the RFC 5280 reason names (unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, cACompromise, aACompromise)');
    if (REFUSED_REASONS.has(reason)) throw new IssuanceError('bad_request', 'certificateHold is not supported: revocation is permanent');
    const row = await this.visible(serialText, actor);
    if (ADMIN_ONLY_REASONS.has(reason) && !actor.admin) throw new IssuanceError('forbidden', `only an admin may revoke for ${reason}`);
    const { deps } = this;
    const at = deps.clock();
    let revoked: boolean;
    try {
      revoked = await deps.certificates.revoke(row.id, reason, at, actor.name, async (trx) => {
        await deps.audit.append(
          { actor: actor.name, action: 'certificate.revoke', subject: row.serial, details: { ca: this.caName(row) ?? String(row.caId), reason, previousStatus: row.status } },
          trx,
        );
      });
    } catch {
      throw unavailable();
    }
    if (revoked) {
      deps.onRevoked?.(row.caId);
      await deps.afterRevoke?.(row.caId, row.serial).catch((err: unknown) => deps.warn?.('re-signing the OCSP answer after a revocation failed; it is retried in the background', err));
    }
    const after = await this.lookup(row.serial);
    return { view: this.toView(after ?? row), revoked };
  }

  private async visible(serialText: string, actor: CertificateActor): Promise<CertificateRow> {
    const serial = normalizeSerial(serialText);
    const row = await this.lookup(serial);
    if (!row || (!actor.admin && (row.clientId === null || row.clientId !== actor.id))) throw new IssuanceError('not_found', 'no such certificate');
    return row;
  }

  private async lookup(serial: string): Promise<CertificateRow | undefined> {
    try {
      return await this.deps.certificates.bySerial(serial);
    } catch {
      throw unavailable();
    }
  }

  private caName(row: CertificateRow): string | null {
    return this.deps.issuers.byId(row.caId)?.row.name ?? null;
  }

  private toView(row: CertificateRow): CertificateView {
    return {
      serial: row.serial,
      ca: this.caName(row),
      status: row.status,
      profile: row.profile,
      subject: row.subjectDn,
      sans: row.sans,
      notBefore: row.notBefore,
      notAfter: row.notAfter,
      issuedAt: row.issuedAt,
      revocation: row.revocation ? { revokedAt: row.revocation.revokedAt, reason: row.revocation.reason } : null,
      certificate: row.certificateDer,
    };
  }
}
