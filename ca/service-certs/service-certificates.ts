/**
 * Certificates the CA issues to its own services — the delegated OCSP responder of each issuer, the TSA, the HTTPS
 * server of the enrollment API — each for a key generated for it in the online HSM (never extractable, never
 * backed up: a lost key is replaced by issuing again). ensure() returns the current one, issuing when there is none
 * or the current one has passed its renewal point; a timer renews ahead of expiry, and listeners learn of every
 * new current certificate so services swap identities without a restart. A superseded certificate stays usable
 * until it expires (answers it signed keep verifying), then its row is retired and its key destroyed.
 */
import type { KeyStore } from '../../hsm/index.ts';
import type { ServiceCertificateRow, ServiceCertificateStore, ServicePurpose, ServiceTrx } from '../db/service-certificate-store.ts';
import { IssuanceError } from '../issuance/issuance-error.ts';
import type { IssuanceService } from '../issuance/issuance-service.ts';
import type { Issuer, IssuerRegistry } from '../issuance/issuer-registry.ts';
import type { KeyType } from '../profiles/profile.ts';
import { hostNames, PURPOSE_PROFILES, serviceKeyLabel } from './service-purposes.ts';

export interface ServiceCertificate {
  /** The service_certificates row. */
  id: number;
  caId: number;
  purpose: ServicePurpose;
  keyLabel: string;
  /** CKA_ID, lowercase hex: with the label, selects the key for the pool (PoolSigner). */
  keyId: string;
  keyType: KeyType;
  spki: Uint8Array;
  spkiSha256: string;
  certificateDer: Uint8Array;
  /** The issuer's certificate first, then its chain up to the root. */
  chain: Uint8Array[];
  notBefore: Date;
  notAfter: Date;
}

export interface RotationEvent {
  purpose: ServicePurpose;
  caId: number;
  current: ServiceCertificate;
  /** The certificate this one replaces as current, as this process last saw it (none for the first). */
  previous: ServiceCertificate | undefined;
}

export interface ServiceLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ServiceCertificatesOptions {
  store: ServiceCertificateStore;
  /** Runs fn holding the cross-process lock for (purpose, issuer): withServiceCertificateLock bound to the db. */
  lock: <T>(purpose: ServicePurpose, caId: number, fn: () => Promise<T>) => Promise<T>;
  issuance: Pick<IssuanceService, 'issueForKey'>;
  issuers: Pick<IssuerRegistry, 'active' | 'byId' | 'all'>;
  /** A key store on the online token, opened per use and closed after (key generation and destruction are rare). */
  openKeyStore: () => KeyStore;
  clock: () => Date;
  keyType: KeyType;
  /** Renew once this fraction of the current certificate's lifetime has passed (default 2/3). */
  renewAtFraction: number;
  /** Per purpose; absent: the profile's default. */
  validityDays: Partial<Record<ServicePurpose, number>>;
  /** Host names and IP addresses of the HTTPS server certificate. */
  httpsNames?: readonly string[];
  checkIntervalMs: number;
  logger?: ServiceLogger;
}

const ACTOR = 'strongroom';
const quiet: ServiceLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export class ServiceCertificates {
  private readonly listeners = new Set<(e: RotationEvent) => void>();
  /** The current certificate last reported per purpose:caId: a change (here or by another process) is a rotation. */
  private readonly seen = new Map<string, ServiceCertificate>();
  /** What ensure() was asked for with the default issuer: followed to the new active issuer after a rollover. */
  private readonly followActive = new Set<ServicePurpose>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly log: ServiceLogger;

  constructor(private readonly o: ServiceCertificatesOptions) {
    this.log = o.logger ?? quiet;
  }

  /** The current certificate for purpose (default issuer: the active one), issued now if none or renewal is due. */
  async ensure(purpose: ServicePurpose, caId?: number): Promise<ServiceCertificate> {
    if (caId === undefined) this.followActive.add(purpose);
    const issuer = this.issuerFor(caId);
    const fresh = await this.o.store.current(purpose, issuer.row.id, this.o.clock());
    if (fresh && !this.due(fresh)) return this.report(this.toCertificate(fresh, issuer));
    return this.o.lock(purpose, issuer.row.id, async () => {
      // Another process (or call) may have issued while we waited for the lock.
      const current = await this.o.store.current(purpose, issuer.row.id, this.o.clock());
      if (current && !this.due(current)) return this.report(this.toCertificate(current, issuer));
      try {
        return this.report(await this.issue(purpose, issuer));
      } catch (err) {
        // Renewal is early by design: while the current certificate is valid, keep serving with it and retry later.
        if (!current) throw err;
        this.log.warn({ err, purpose, ca: issuer.row.name }, 'renewing a service certificate failed; the current one stays in use');
        return this.report(this.toCertificate(current, issuer));
      }
    });
  }

  /** The current certificate without issuing; undefined when there is none. */
  async current(purpose: ServicePurpose, caId?: number): Promise<ServiceCertificate | undefined> {
    const issuer = caId === undefined ? this.o.issuers.active() : this.o.issuers.byId(caId);
    if (!issuer) return undefined;
    const row = await this.o.store.current(purpose, issuer.row.id, this.o.clock());
    return row ? this.toCertificate(row, issuer) : undefined;
  }

  /** Called with each new current certificate (the first one too); returns an unsubscribe function. */
  onRotated(cb: (e: RotationEvent) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Ensures the OCSP certificate of every issuer that can sign. Per issuer: one failing does not stop the rest. */
  async ensureOcspForAllIssuers(): Promise<void> {
    for (const issuer of this.o.issuers.all()) {
      if (!this.canSign(issuer)) continue;
      await this.ensure('ocsp', issuer.row.id).catch((err: unknown) => this.log.error({ err, ca: issuer.row.name }, 'the OCSP responder certificate could not be issued'));
    }
  }

  /**
   * One renewal pass: OCSP for every issuer, what ensure() was asked for with the default issuer, then expired
   * rows retired after their keys are destroyed. The timer runs it; tests call it directly.
   */
  async check(): Promise<void> {
    await this.ensureOcspForAllIssuers();
    for (const purpose of this.followActive) {
      await this.ensure(purpose).catch((err: unknown) => this.log.error({ err, purpose }, 'a service certificate could not be renewed'));
    }
    for (const key of this.seen.keys()) {
      const [purpose, caId] = key.split(':') as [ServicePurpose, string];
      if (purpose === 'ocsp' || this.followActive.has(purpose)) continue;
      const issuer = this.o.issuers.byId(Number(caId));
      if (issuer && this.canSign(issuer)) await this.ensure(purpose, issuer.row.id).catch((err: unknown) => this.log.error({ err, purpose }, 'a service certificate could not be renewed'));
    }
    await this.retireExpired();
  }

  /** Retires rows past their notAfter, each once its key is destroyed (a key that cannot be destroyed now is retried). */
  async retireExpired(): Promise<number> {
    let retired = 0;
    for (const row of await this.o.store.expired(this.o.clock())) {
      try {
        this.withKeyStore((ks) => {
          try {
            ks.destroy({ label: row.keyLabel, id: row.keyId });
          } catch (e) {
            // Gone already (an earlier pass destroyed it and then failed to retire the row): nothing left to do.
            if ((e as { kind?: string }).kind !== 'key-not-found') throw e;
          }
        });
        if (await this.o.store.retire(row.id)) retired++;
        this.log.info({ purpose: row.purpose, caId: row.caId, keyLabel: row.keyLabel, notAfter: row.notAfter.toISOString() }, 'expired service certificate retired, key destroyed');
      } catch (err) {
        this.log.warn({ err, keyLabel: row.keyLabel }, 'an expired service key could not be destroyed yet');
      }
    }
    return retired;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.ticking ??= this.check()
        .catch((err: unknown) => this.log.error({ err }, 'service certificate check failed'))
        .finally(() => (this.ticking = undefined));
    }, this.o.checkIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  private issuerFor(caId: number | undefined): Issuer {
    const issuer = caId === undefined ? this.o.issuers.active() : this.o.issuers.byId(caId);
    if (!issuer) throw new IssuanceError('no_issuer', caId === undefined ? 'no issuing CA is active' : `no issuing CA ${caId} that can sign`, 30);
    return issuer;
  }

  private canSign(issuer: Issuer): boolean {
    const now = this.o.clock().getTime();
    return issuer.info.notBefore.getTime() <= now && now < issuer.info.notAfter.getTime();
  }

  private due(row: ServiceCertificateRow): boolean {
    const from = row.notBefore.getTime();
    return this.o.clock().getTime() >= from + this.o.renewAtFraction * (row.notAfter.getTime() - from);
  }

  private async issue(purpose: ServicePurpose, issuer: Issuer): Promise<ServiceCertificate> {
    const keyType = this.o.keyType;
    const label = serviceKeyLabel(purpose, issuer.row.name, this.o.clock());
    const key = this.withKeyStore((ks) => ks.generate({ type: keyType, label }));
    let rowId: number | undefined;
    try {
      const issued = await this.o.issuance.issueForKey({
        profile: PURPOSE_PROFILES[purpose],
        spki: key.spki,
        keyType,
        ...(purpose === 'https' ? { names: hostNames(this.o.httpsNames ?? []) } : {}),
        ...(this.o.validityDays[purpose] !== undefined ? { validityDays: this.o.validityDays[purpose] } : {}),
        caId: issuer.row.id,
        actor: ACTOR,
        details: { purpose, keyLabel: key.label, keyId: key.id },
        record: async (trx: ServiceTrx, c) => {
          rowId = await this.o.store.insert(
            { caId: issuer.row.id, purpose, keyLabel: key.label, keyId: key.id, keyType, spki: key.spki, spkiSha256: key.spkiSha256, certificateId: c.certificateId, certificateDer: c.der, notBefore: c.notBefore, notAfter: c.notAfter },
            trx,
          );
        },
      });
      this.log.info({ purpose, ca: issuer.row.name, serial: issued.serial, keyLabel: key.label, notAfter: issued.notAfter.toISOString() }, 'service certificate issued');
      return { id: rowId!, caId: issuer.row.id, purpose, keyLabel: key.label, keyId: key.id, keyType, spki: new Uint8Array(key.spki), spkiSha256: key.spkiSha256, certificateDer: issued.der, chain: issued.chain, notBefore: issued.notBefore, notAfter: issued.notAfter };
    } catch (err) {
      // No certificate names this key (nothing committed): remove it rather than leave an orphan on the token.
      try {
        this.withKeyStore((ks) => ks.destroy({ label: key.label, id: key.id }));
      } catch (e) {
        this.log.warn({ err: e, keyLabel: key.label }, 'a key whose certificate was not issued could not be destroyed');
      }
      throw err;
    }
  }

  private withKeyStore<T>(fn: (ks: KeyStore) => T): T {
    const ks = this.o.openKeyStore();
    try {
      return fn(ks);
    } finally {
      ks.close();
    }
  }

  private toCertificate(row: ServiceCertificateRow, issuer: Issuer): ServiceCertificate {
    return {
      id: row.id,
      caId: row.caId,
      purpose: row.purpose,
      keyLabel: row.keyLabel,
      keyId: row.keyId,
      keyType: row.keyType as KeyType,
      spki: row.spki,
      spkiSha256: row.spkiSha256,
      certificateDer: row.certificateDer,
      chain: [issuer.row.certificateDer, ...issuer.chain],
      notBefore: row.notBefore,
      notAfter: row.notAfter,
    };
  }

  /** Remembers what is current and tells the listeners when it changed. */
  private report(cert: ServiceCertificate): ServiceCertificate {
    const key = `${cert.purpose}:${cert.caId}`;
    const previous = this.seen.get(key);
    if (previous?.id === cert.id) return cert;
    this.seen.set(key, cert);
    for (const cb of this.listeners) {
      try {
        cb({ purpose: cert.purpose, caId: cert.caId, current: cert, previous });
      } catch (err) {
        this.log.error({ err, purpose: cert.purpose }, 'a service certificate listener failed');
      }
    }
    return cert;
  }
}
