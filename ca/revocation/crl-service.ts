/**
 * CRLs: build, lint, sign (through the issuer's HSM Signer, priority 'high') and publish one complete CRL per
 * issuer — every revoked, unexpired certificate with its date and reason; thisUpdate now, nextUpdate a configured
 * period later; authorityKeyIdentifier; a cRLNumber taken in the same transaction that stores the CRL. A signing
 * failure rolls that transaction back: the previous CRL stays the published one and no number is consumed.
 */
import { HsmUnavailable } from '../../hsm/index.ts';
import type { AuditLog } from '../audit/index.ts';
import type { CertificateStore } from '../db/certificate-store.ts';
import type { CrlRow, CrlStore } from '../db/crl-store.ts';
import { IssuanceError } from '../issuance/issuance-error.ts';
import type { Issuer } from '../issuance/issuer-registry.ts';
import { issueCrl, issuerName, serialFromHex, type RevocationReason, type RevokedEntry } from '../x509/index.ts';

export interface CrlServiceDeps {
  certificates: CertificateStore;
  crls: CrlStore;
  audit: AuditLog;
  clock: () => Date;
  /** nextUpdate − thisUpdate. */
  validitySeconds: number;
  /** How long a CRL read from the database is served before it is read again (other instances may publish). */
  cacheMs?: number;
  /** Called after each publication. */
  onPublished?: (issuer: Issuer, crl: CrlRow) => void;
  /** Where failures that are not the caller's to handle are reported. */
  warn?: (message: string, error: unknown) => void;
  /**
   * False while the server's clock is known to be off (ca/server/clock-gated-pool.ts): no CRL is made then, so none
   * carries a thisUpdate in the future; the published one stays and no CRL number is used.
   */
  clockOk?: () => boolean;
}

export class CrlService {
  private readonly cache = new Map<number, { row: CrlRow; fetchedAt: number }>();

  constructor(private readonly deps: CrlServiceDeps) {}

  /** Builds, signs and stores the next CRL of this issuer; throws (and publishes nothing) on any failure. */
  async publish(issuer: Issuer): Promise<CrlRow> {
    const { deps } = this;
    if (deps.clockOk && !deps.clockOk()) throw new HsmUnavailable('the clock is out of tolerance: no CRL is signed until it is right');
    const now = deps.clock();
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + deps.validitySeconds * 1000);
    // Read before the numbering transaction (PGlite has one connection, and the list must not wait on the lock):
    // a revocation committed after this read schedules another CRL.
    const revoked = await deps.certificates.revokedForCrl(issuer.row.id, now);
    const entries: RevokedEntry[] = revoked.map((r) => ({
      serial: serialFromHex(r.serial),
      // Another instance's clock may be slightly ahead; a revocation is never dated after the CRL listing it.
      revocationDate: r.revokedAt > thisUpdate ? thisUpdate : r.revokedAt,
      reason: r.reason as RevocationReason,
      ...(r.invalidityDate && r.invalidityDate <= thisUpdate ? { invalidityDate: r.invalidityDate } : {}),
    }));
    const row = await deps.crls.publish(issuer.row.id, async (crlNumber) => {
      const signed = await issueCrl(
        {
          issuer: issuerName(issuer.info),
          thisUpdate,
          nextUpdate,
          signatureAlgorithm: issuer.signer.algorithm,
          crlNumber,
          authorityKeyId: issuer.info.keyIdentifier,
          revoked: entries,
        },
        issuer.signer,
        {
          issuerCertificate: issuer.row.certificateDer,
          maxValidityDays: Math.ceil(deps.validitySeconds / 86_400),
          ...(crlNumber > 1n ? { previousCrlNumber: crlNumber - 1n } : {}),
        },
        { priority: 'high' },
      );
      return { der: signed.der, thisUpdate, nextUpdate };
    }, async (stored, trx) => {
      // The audit entry commits with the CRL or neither does: a CRL never goes out unrecorded.
      await deps.audit.append(
        { actor: 'system', action: 'crl.publish', subject: issuer.row.name, details: { crlNumber: stored.crlNumber.toString(), thisUpdate: stored.thisUpdate.toISOString(), nextUpdate: stored.nextUpdate.toISOString(), revoked: entries.length } },
        trx,
      );
    });
    this.remember(row);
    deps.onPublished?.(issuer, row);
    return row;
  }

  /** The newest CRL of the issuer; a cached one when the database cannot be read. */
  async current(caId: number): Promise<CrlRow | undefined> {
    const cached = this.cache.get(caId);
    if (cached && performance.now() - cached.fetchedAt < (this.deps.cacheMs ?? 1000)) return cached.row;
    let row: CrlRow | undefined;
    try {
      row = await this.deps.crls.latest(caId);
    } catch {
      if (cached) return cached.row;
      throw new IssuanceError('unavailable', 'the CRL cannot be read; try again', 5);
    }
    if (row) this.remember(row);
    return this.cache.get(caId)?.row;
  }

  private remember(row: CrlRow): void {
    const cached = this.cache.get(row.caId);
    // Never step back: a slow read may return after a newer CRL was published here.
    if (cached && cached.row.crlNumber > row.crlNumber) return;
    this.cache.set(row.caId, { row, fetchedAt: performance.now() });
  }
}
