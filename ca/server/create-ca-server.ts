/**
 * The composition root of the online CA: database, HSM session pool, issuers, profiles, audit log, services and
 * the HTTP app, wired once here. Clock and randomness are injected (Node's CSPRNG online); tests also inject an
 * open database and wrap the signing pool.
 */
import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { Pkcs11KeyStore, readPin, SessionPool, promPoolMetrics, type SigningPool } from '../../hsm/index.ts';
import { AuditLog } from '../audit/index.ts';
import { ClientService } from '../clients/index.ts';
import { AuthorityStore } from '../db/authority-store.ts';
import { CertificateStore } from '../db/certificate-store.ts';
import { ClientCertificateStore } from '../db/client-certificate-store.ts';
import { ClientStore } from '../db/client-store.ts';
import { openDatabase } from '../db/connect.ts';
import { CrlStore } from '../db/crl-store.ts';
import { migrateLatest } from '../db/migrate.ts';
import { pingDatabase } from '../db/ping.ts';
import { withServiceCertificateLock } from '../db/service-certificate-lock.ts';
import { ServiceCertificateStore } from '../db/service-certificate-store.ts';
import { createApp, type Readiness } from '../http/app.ts';
import { certificateAuthenticator } from '../http/client-certificate-auth.ts';
import type { HttpsListening } from '../http/https-listen.ts';
import { withoutApi } from '../http/https-only-api.ts';
import { listen, type Listening } from '../http/listen.ts';
import { IssuanceService } from '../issuance/issuance-service.ts';
import { IssuerRegistry } from '../issuance/issuer-registry.ts';
import { leafProfiles } from '../issuance/leaf-profiles.ts';
import { loadProfiles, type Profile } from '../profiles/index.ts';
import { CrlScheduler } from '../revocation/crl-scheduler.ts';
import { CrlService } from '../revocation/crl-service.ts';
import { RevocationService } from '../revocation/revocation-service.ts';
import { ServiceCertificates } from '../service-certs/service-certificates.ts';
import { AuditAnchorStore } from '../db/audit-anchor-store.ts';
import { TimestampStore } from '../db/timestamp-store.ts';
import { databaseTime } from '../db/database-time.ts';
import { clockIntervalMs, ClockMonitor, configuredClockCheck, type ClockCheck } from '../clock/clock-check.ts';
import { clockGatedPool } from './clock-gated-pool.ts';
import { publishedFiles } from './published-files.ts';
import { createTsa, type Tsa } from '../tsa/create-tsa.ts';
import { ServiceTsaIdentity } from '../tsa/service-identity.ts';
import type { TsaIdentitySource } from '../tsa/tsa-identity.ts';
import { OcspStore } from '../../ocsp/db/ocsp-store.ts';
import { createOcspService, type OcspService } from '../../ocsp/ocsp-service.ts';
import { promOcspMetrics } from '../../ocsp/prom-ocsp-metrics.ts';
import { parseCaServerConfig, publicUrls, type CaServerConfig } from './config.ts';
import { HttpsEndpoint } from './https-endpoint.ts';
import { caMetrics, type CaMetrics } from './metrics.ts';
import { ServingTokenAudit } from './serving-token-audit.ts';
import { head as auditHead } from '../audit/audit-log.ts';
import { DrillRecordStore } from '../drill/db/drill-record-store.ts';
import { refreshSliGauges } from '../drill/sli-gauges.ts';
import { ClientRateLimiter } from '../limits/client-rate-limiter.ts';

export type Database = Awaited<ReturnType<typeof openDatabase>>;

export interface CreateCaServerOptions {
  /** Validated here (caServerConfigSchema): unknown keys are errors. */
  config: unknown;
  clock?: () => Date;
  random?: (n: number) => Uint8Array;
  logger?: Logger;
  /** The PIN itself, when the caller has read it already (else it is read from config.hsm.pin). */
  pin?: string;
  /** An open database to use instead of opening config's; the caller keeps ownership (close() leaves it open). */
  database?: Database;
  /** Wraps the signing pool the issuers sign through (tests count HSM calls with it). */
  wrapPool?: (pool: SigningPool) => SigningPool;
  /** The TSA's key and certificate, instead of its service certificate (tests). */
  tsaIdentity?: TsaIdentitySource;
  /** Replaces the configured TSA clock check (tests). */
  tsaClockCheck?: ClockCheck;
  /** Replaces the configured clock check that gates CRL and OCSP signing (tests). */
  clockCheck?: ClockCheck;
}

export interface CaServer {
  config: CaServerConfig;
  app: ReturnType<typeof createApp>;
  db: Database;
  pool: SessionPool;
  issuers: IssuerRegistry;
  profiles: ReadonlyMap<string, Profile>;
  audit: AuditLog;
  clients: ClientService;
  issuance: IssuanceService;
  revocation: RevocationService;
  crl: CrlService;
  scheduler: CrlScheduler;
  /** The CA's own OCSP / TSA / HTTPS certificates and their HSM keys, renewed ahead of expiry. */
  serviceCertificates: ServiceCertificates;
  /** The enrollment API's HTTPS listener (config.https), once it has its certificate. */
  https(): HttpsListening | undefined;
  /** The OCSP responder at /ocsp (unless config.ocsp.enabled is false). */
  ocsp: OcspService | undefined;
  /** The time-stamp authority at POST /tsa (when config.tsa.enabled). */
  tsa: Tsa | undefined;
  metrics: CaMetrics;
  logger: Logger;
  /** Starts serving, publishes the CRLs that are missing or due, and starts the schedules. */
  listen(): Promise<Listening>;
  close(): Promise<void>;
}

export async function createCaServer(opts: CreateCaServerOptions): Promise<CaServer> {
  const config = parseCaServerConfig(opts.config);
  const clock = opts.clock ?? (() => new Date());
  const random = opts.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const logger = opts.logger ?? pino({ level: config.log.level, base: { service: 'strongroom-ca' } });
  // Profiles first: a bad profile stops start-up (naming file and field) before anything is opened.
  const profiles = leafProfiles(loadProfiles(config.profilesDir));
  const metrics = caMetrics();

  const ownsDb = opts.database === undefined;
  const db = opts.database ?? (await openDatabase({ ...(config.databaseUrl ? { url: config.databaseUrl } : {}), dataDir: config.dataDir }));
  let pool: SessionPool | undefined;
  let pin: string;
  try {
    if (config.migrate) await migrateLatest(db);
    pin = opts.pin ?? (await readPin(config.hsm.pin));
    const drPin = config.hsm.dr ? await readPin(config.hsm.dr.pin) : undefined;
    pool = await SessionPool.open({
      primary: { name: 'primary', module: config.hsm.module, token: config.hsm.token, pin },
      ...(config.hsm.dr && drPin !== undefined ? { dr: { name: 'dr', module: config.hsm.dr.module, token: config.hsm.dr.token, pin: drPin } } : {}),
      ...config.hsm.pool,
      metrics: promPoolMetrics(metrics.registry),
    });
  } catch (e) {
    await pool?.close().catch(() => undefined);
    if (ownsDb) await db.destroy().catch(() => undefined);
    throw e;
  }
  const signingPool = opts.wrapPool ? opts.wrapPool(pool) : pool;

  const audit = new AuditLog(db);
  // Failover to the DR token and fail-back happen inside the pool; each switch goes on the audit record.
  const servingAudit = new ServingTokenAudit({
    serving: () => pool!.health().serving,
    append: (e) => audit.append(e),
    intervalMs: 1000,
    onChange: (from, to) => logger.warn({ from: from ?? 'none', to: to ?? 'none' }, 'the HSM token that signs changed'),
  });
  // CRLs and OCSP answers are signed only while the clock is known to be right (clock-gated-pool.ts).
  const signingClock = new ClockMonitor(
    opts.clockCheck ?? configuredClockCheck(config.clock, () => databaseTime(db), clock),
    clockIntervalMs(config.clock),
    (s) => (s.ok ? logger.info({ clock: s.detail }, 'clock check passes: CRLs and OCSP answers are signed') : logger.error({ clock: s.detail }, 'clock out of tolerance: no CRL or OCSP answer is signed until it is right')),
  );
  const clockOk = () => signingClock.ok();
  const certificates = new CertificateStore(db);
  const crls = new CrlStore(db);
  const issuers = new IssuerRegistry(new AuthorityStore(db), signingPool);
  await issuers.reload();
  const clientCertificates = new ClientCertificateStore(db);
  const clients = new ClientService({ store: new ClientStore(db), audit, profiles, clock, random });
  // Issuance signs behind OCSP and CRL work (strict priority). More of that queued than the sessions hold means the
  // HSM is saturated by it: a certificate would wait out its deadline, so it is refused before a serial is taken.
  const highBacklog = config.hsm.pool.workers * config.hsm.pool.pipelineDepth;
  const hsmBusy = () => signingPool.health().queued.high > highBacklog;
  const urls = publicUrls(config.publicUrl);
  const issuance = new IssuanceService({ certificates, issuers, profiles, audit, urls, clock, random, hsmReady: () => signingPool.health().ready, hsmBusy });
  const crl = new CrlService({
    certificates,
    crls,
    audit,
    clock,
    validitySeconds: config.crl.validitySeconds,
    ...(config.crl.deltaValiditySeconds !== undefined ? { deltas: { validitySeconds: config.crl.deltaValiditySeconds, url: urls.deltaCrl } } : {}),
    clockOk,
    onPublished: (issuer, row) => {
      const fields = { ca: issuer.row.name, crlNumber: row.crlNumber.toString(), nextUpdate: row.nextUpdate.toISOString() };
      if (row.deltaBase !== undefined) {
        // The CRL gauges (number, nextUpdate) and their alerts follow the complete CRL.
        logger.info({ ...fields, deltaOf: row.deltaBase.toString() }, 'delta CRL published');
        return;
      }
      metrics.crlPublished(issuer.row.name, row.crlNumber, row.nextUpdate);
      logger.info(fields, 'CRL published');
    },
    warn: (message, err) => logger.warn({ err }, message),
  });
  const scheduler = new CrlScheduler({
    crl,
    crls,
    issuers,
    clock,
    debounceMs: config.crl.debounceMs,
    checkIntervalMs: config.crl.checkIntervalMs,
    retryMs: config.crl.retryMs,
    onLatency: (s) => metrics.revocationToCrl(s),
    onError: (issuer, err) => {
      metrics.crlFailed(issuer.row.name);
      logger.error({ err, ca: issuer.row.name }, 'CRL publication failed; the previous CRL stays published');
    },
  });
  const ocsp = config.ocsp.enabled ? createOcspService({ store: new OcspStore(db), config: config.ocsp, pool: clockGatedPool(signingPool, clockOk), clock, log: logger, onAnswer: promOcspMetrics(metrics.registry) }) : undefined;
  const revocation = new RevocationService({
    certificates,
    issuers,
    audit,
    clock,
    onRevoked: (caId) => scheduler.revoked(caId),
    ...(ocsp ? { afterRevoke: (caId: number, serial: string) => ocsp.responder.refresh(caId, serial) } : {}),
    warn: (message, err) => logger.error({ err }, message),
  });

  const serviceCertificates = new ServiceCertificates({
    store: new ServiceCertificateStore(db),
    lock: (purpose, caId, fn) => withServiceCertificateLock(db, purpose, caId, fn),
    issuance,
    issuers,
    // Service keys go to the online token the pool signs with (primary): a DR token needs them restored there.
    openKeyStore: () => Pkcs11KeyStore.open({ module: config.hsm.module, token: config.hsm.token, pin }),
    clock,
    keyType: config.serviceCertificates.keyType,
    renewAtFraction: config.serviceCertificates.renewAtFraction,
    validityDays: config.serviceCertificates.validityDays,
    checkIntervalMs: config.serviceCertificates.checkIntervalMs,
    ...(config.https ? { httpsNames: config.https.names } : {}),
    logger,
  });

  // The TSA signs with its service certificate (purpose 'tsa'), renewed there ahead of expiry.
  const tsaIdentity =
    config.tsa.enabled && !opts.tsaIdentity
      ? new ServiceTsaIdentity(serviceCertificates, signingPool, { onError: (err) => logger.error({ err }, 'the TSA certificate could not be obtained; POST /tsa answers 503 until it is') })
      : undefined;
  const tsa = config.tsa.enabled
    ? createTsa({
        config: config.tsa,
        identity: opts.tsaIdentity ?? tsaIdentity!.current,
        timestamps: new TimestampStore(db),
        anchors: new AuditAnchorStore(db),
        auditDb: db,
        clock,
        logger,
        ...(opts.tsaClockCheck ? { clockCheck: opts.tsaClockCheck } : {}),
      })
    : undefined;

  const readiness = async (): Promise<Readiness> => {
    const h = pool!.health();
    const database = await pingDatabase(db, 1000);
    return { ready: h.ready && database, hsm: { ready: h.ready, serving: h.serving }, database };
  };

  const app = createApp({
    issuance,
    authenticate: (token) => clients.authenticate(token),
    ...(config.https && config.https.clientAuth !== 'none' ? { authenticatePeer: certificateAuthenticator({ clientOf: (serial, der) => clientCertificates.clientOf(serial, der), clock }) } : {}),
    certificates: revocation,
    crls: crl,
    issuers,
    readiness,
    metrics,
    logger,
    profiles: new Set(profiles.keys()),
    clock,
    maxInFlight: config.http.maxInFlight,
    deadlineMs: config.http.deadlineMs,
    ...(config.limits.perClient ? { rateLimits: new ClientRateLimiter(config.limits.perClient) } : {}),
    crlMaxAgeSeconds: config.crl.maxAgeSeconds,
    passthrough: ocsp ? [{ prefix: '/ocsp', handler: ocsp.handler }] : [],
    published: publishedFiles(config.published),
    ...(tsa ? { tsa: { tsa: tsa.service, timestamps: tsa.timestamps, maxInFlight: config.tsa.maxInFlight } } : {}),
  });

  const httpsEndpoint = config.https ? new HttpsEndpoint({ app, config, https: config.https, pin, serviceCertificates, issuers, logger }) : undefined;

  let listening: Listening | undefined;
  let reloadTimer: NodeJS.Timeout | undefined;
  let sliTimer: NodeJS.Timeout | undefined;
  const serviceCertificateRows = new ServiceCertificateStore(db);
  const drills = new DrillRecordStore(db);
  const refreshSli = () =>
    refreshSliGauges(
      { issuers: () => issuers.all(), serviceCertificates: () => serviceCertificateRows.list({ status: 'active' }), latestCrl: (id) => crls.latest(id), auditHead: async () => (await auditHead(db)).seq, drills: () => drills.last(), clock },
      metrics,
    ).catch((err: unknown) => logger.warn({ err }, 'refreshing the expiry and drill gauges failed; keeping the previous values'));
  let ocspCertificates: Promise<void> | undefined;
  let closed = false;
  const reload = async () => {
    try {
      await issuers.reload();
      await scheduler.check();
    } catch (err) {
      logger.warn({ err }, 'reloading the issuers failed; keeping the previous ones');
    }
  };

  return {
    config,
    app,
    db,
    pool,
    issuers,
    profiles,
    audit,
    clients,
    issuance,
    revocation,
    crl,
    scheduler,
    serviceCertificates,
    https: () => httpsEndpoint?.current,
    ocsp,
    tsa,
    metrics,
    logger,
    async listen() {
      if (listening) return listening;
      // With HTTPS on, plain HTTP keeps OCSP, CRLs and CA certificates; the API only if apiOverHttp says so.
      listening = await listen(config.https && !config.https.apiOverHttp ? withoutApi(app) : app, { host: config.http.host, port: config.http.port, headersTimeoutMs: config.http.headersTimeoutMs, requestTimeoutMs: config.http.requestTimeoutMs, keepAliveTimeoutMs: config.http.keepAliveTimeoutMs });
      // The first clock check before anything time-bearing is signed.
      await signingClock.start();
      await ocsp?.start();
      // CRLs missing or due are published in the background: serving does not wait for the HSM.
      void scheduler.start().catch((err: unknown) => logger.error({ err }, 'CRL check failed'));
      // A process killed mid-issuance leaves its reservation behind: the HSM may have signed it, so operators are told.
      void certificates.orphanedReservations(new Date(clock().getTime() - 60_000)).then(
        (o) => {
          if (o.length > 0) logger.warn({ count: o.length, serials: o.slice(0, 20).map((r) => r.serial) }, 'orphaned reservations (an issuance was interrupted): list them with `strongroom cert orphans` and revoke each');
        },
        (err: unknown) => logger.warn({ err }, 'listing orphaned reservations failed'),
      );
      // Every issuer's OCSP responder certificate: waited for a bounded time (an HSM that is down must not hold
      // start-up), then left to finish in the background; the renewal timer retries what failed.
      // A new responder certificate (the first, or a rotation here or in another process) is signed with at once.
      serviceCertificates.onRotated((e) => {
        if (e.purpose === 'ocsp') void ocsp?.responder.reload().catch((err: unknown) => logger.warn({ err }, 'reloading OCSP responders failed'));
      });
      ocspCertificates = serviceCertificates.ensureOcspForAllIssuers();
      await Promise.race([ocspCertificates, new Promise((resolve) => setTimeout(resolve, config.serviceCertificates.startupWaitMs).unref())]);
      serviceCertificates.start();
      await httpsEndpoint?.start();
      if (tsaIdentity) await Promise.race([tsaIdentity.start(), new Promise((resolve) => setTimeout(resolve, config.serviceCertificates.startupWaitMs).unref())]);
      await tsa?.start();
      servingAudit.start();
      reloadTimer = setInterval(() => void reload(), config.issuerReloadMs);
      reloadTimer.unref();
      await refreshSli();
      sliTimer = setInterval(() => void refreshSli(), config.metrics.refreshIntervalMs);
      sliTimer.unref();
      logger.info({ url: listening.url, publicUrl: config.publicUrl, issuers: issuers.all().map((i) => `${i.row.name} (${i.row.status})`) }, 'serving');
      return listening;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (reloadTimer) clearInterval(reloadTimer);
      if (sliTimer) clearInterval(sliTimer);
      await listening?.close();
      await httpsEndpoint?.close();
      await scheduler.stop();
      signingClock.stop();
      await servingAudit.stop();
      await ocspCertificates;
      tsaIdentity?.stop();
      await tsa?.stop();
      await serviceCertificates.stop();
      await ocsp?.stop();
      await pool!.close();
      if (ownsDb) await db.destroy();
    },
  };
}
