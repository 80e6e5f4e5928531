/**
 * CRLs: build, lint, sign (through the issuer's HSM Signer, priority 'high') and publish one complete CRL per
 * issuer — every revoked, unexpired certificate with its date and reason; thisUpdate now, nextUpdate a configured
 * period later; authorityKeyIdentifier; a cRLNumber taken in the same transaction that stores the CRL — and, when
 * configured, delta CRLs beside it. A signing failure rolls that transaction back: the previous CRL stays the
 * published one and no number is consumed.
 */
import { HsmUnavailable } from '../../hsm/index.ts';
import type { AuditLog } from '../audit/index.ts';
import type { CertificateStore, RevokedForCrl } from '../db/certificate-store.ts';
import type { CrlRow, CrlStore } from '../db/crl-store.ts';
import { IssuanceError } from '../issuance/issuance-error.ts';
import type { Issuer } from '../issuance/issuer-registry.ts';
import { issueCrl, issuerName, revokedSerialsOf, serialFromHex, type RevocationReason, type RevokedEntry } from '../x509/index.ts';

export interface CrlServiceDeps {
  certificates: CertificateStore;
  crls: CrlStore;
  audit: AuditLog;
  clock: () => Date;
  /** nextUpdate − thisUpdate. */
  validitySeconds: number;
  /**
   * Delta CRLs: their nextUpdate − thisUpdate, and where a CA's newest one is served (each complete CRL names it in
   * freshestCRL). Absent: complete CRLs only.
   */
  deltas?: { validitySeconds: number; url: (caName: string) => string };
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

type Cache = Map<number, { row: CrlRow; fetchedAt: number }>;

export class CrlService {
  private readonly cache: Cache = new Map();
  private readonly deltaCache: Cache = new Map();

  constructor(private readonly deps: CrlServiceDeps) {}

  /** Whether delta CRLs are configured: the scheduler makes them, the HTTP layer serves them. */
  get publishesDeltas(): boolean {
    return this.deps.deltas !== undefined;
  }

  /** Builds, signs and stores the next complete CRL of this issuer; throws (and publishes nothing) on any failure. */
  async publish(issuer: Issuer): Promise<CrlRow> {
    const now = this.now();
    const revoked = await this.deps.certificates.revokedForCrl(issuer.row.id, now);
    const deltaUrl = this.deps.deltas?.url(issuer.row.name);
    const row = await this.make(issuer, now, this.deps.validitySeconds, revoked, deltaUrl ? { freshestCrlUrls: [deltaUrl] } : {});
    this.remember(this.cache, row);
    this.deps.onPublished?.(issuer, row);
    return row;
  }

  /**
   * Builds, signs and stores a delta CRL (RFC 5280 §5.2.4): every revoked, unexpired certificate that its base does
   * not list. The base is the oldest complete CRL still valid (CrlStore.deltaBase), so a relying party holding any
   * complete CRL it may still use can apply it. Throws when deltas are off or no complete CRL exists yet.
   */
  async publishDelta(issuer: Issuer): Promise<CrlRow> {
    const deltas = this.deps.deltas;
    if (!deltas) throw new Error('delta CRLs are not configured');
    const now = this.now();
    const base = await this.deps.crls.deltaBase(issuer.row.id, now);
    if (!base) throw new Error('no complete CRL has been published yet: a delta needs one to add to');
    const listed = new Set(revokedSerialsOf(base.der));
    const revoked = (await this.deps.certificates.revokedForCrl(issuer.row.id, now)).filter((r) => !listed.has(Buffer.from(serialFromHex(r.serial).bytes).toString('hex')));
    const row = await this.make(issuer, now, deltas.validitySeconds, revoked, { deltaOf: base.crlNumber });
    this.remember(this.deltaCache, row);
    this.deps.onPublished?.(issuer, row);
    return row;
  }

  private now(): Date {
    if (this.deps.clockOk && !this.deps.clockOk()) throw new HsmUnavailable('the clock is out of tolerance: no CRL is signed until it is right');
    return this.deps.clock();
  }

  /**
   * The list is read before the numbering transaction (PGlite has one connection, and the list must not wait on
   * the lock): a revocation committed after this read schedules another CRL.
   */
  private async make(issuer: Issuer, now: Date, validitySeconds: number, revoked: RevokedForCrl[], kind: { deltaOf?: bigint; freshestCrlUrls?: string[] }): Promise<CrlRow> {
    const { deps } = this;
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + validitySeconds * 1000);
    const entries: RevokedEntry[] = revoked.map((r) => ({
      serial: serialFromHex(r.serial),
      // Another instance's clock may be slightly ahead; a revocation is never dated after the CRL listing it.
      revocationDate: r.revokedAt > thisUpdate ? thisUpdate : r.revokedAt,
      reason: r.reason as RevocationReason,
      ...(r.invalidityDate && r.invalidityDate <= thisUpdate ? { invalidityDate: r.invalidityDate } : {}),
    }));
    return deps.crls.publish(
      issuer.row.id,
      async (crlNumber) => {
        const signed = await issueCrl(
          {
            issuer: issuerName(issuer.info),
            thisUpdate,
            nextUpdate,
            signatureAlgorithm: issuer.signer.algorithm,
            crlNumber,
            authorityKeyId: issuer.info.keyIdentifier,
            revoked: entries,
            ...kind,
          },
          issuer.signer,
          {
            issuerCertificate: issuer.row.certificateDer,
            maxValidityDays: Math.ceil(validitySeconds / 86_400),
            ...(crlNumber > 1n ? { previousCrlNumber: crlNumber - 1n } : {}),
            ...(kind.deltaOf !== undefined ? { deltaOf: kind.deltaOf } : {}),
          },
          { priority: 'high' },
        );
        return { der: signed.der, thisUpdate, nextUpdate };
      },
      async (stored, trx) => {
        // The audit entry commits with the CRL or neither does: a CRL never goes out unrecorded.
        await deps.audit.append(
          {
            actor: 'system',
            action: 'crl.publish',
            subject: issuer.row.name,
            details: {
              crlNumber: stored.crlNumber.toString(),
              ...(kind.deltaOf !== undefined ? { deltaOf: kind.deltaOf.toString() } : {}),
              thisUpdate: stored.thisUpdate.toISOString(),
              nextUpdate: stored.nextUpdate.toISOString(),
              revoked: entries.length,
            },
          },
          trx,
        );
      },
      kind.deltaOf,
    );
  }

  /** The newest complete CRL of the issuer; a cached one when the database cannot be read. */
  current(caId: number): Promise<CrlRow | undefined> {
    return this.read(this.cache, caId, () => this.deps.crls.latest(caId));
  }

  /** The newest delta CRL of the issuer (undefined when deltas are off or none is published yet). */
  currentDelta(caId: number): Promise<CrlRow | undefined> {
    if (!this.deps.deltas) return Promise.resolve(undefined);
    return this.read(this.deltaCache, caId, () => this.deps.crls.latestDelta(caId));
  }

  private async read(cache: Cache, caId: number, load: () => Promise<CrlRow | undefined>): Promise<CrlRow | undefined> {
    const cached = cache.get(caId);
    if (cached && performance.now() - cached.fetchedAt < (this.deps.cacheMs ?? 1000)) return cached.row;
    let row: CrlRow | undefined;
    try {
      row = await load();
    } catch {
      if (cached) return cached.row;
      throw new IssuanceError('unavailable', 'the CRL cannot be read; try again', 5);
    }
    if (row) this.remember(cache, row);
    return cache.get(caId)?.row;
  }

  private remember(cache: Cache, row: CrlRow): void {
    const cached = cache.get(row.caId);
    // Never step back: a slow read may return after a newer CRL was published here.
    if (cached && cached.row.crlNumber > row.crlNumber) return;
    cache.set(row.caId, { row, fetchedAt: performance.now() });
  }
}
