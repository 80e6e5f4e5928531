/**
 * The composition root of a standalone OCSP responder: database, optional HSM session pool, the responder and its
 * HTTP listener. One process; `strongroom serve ocsp` forks several of these when asked (cluster).
 */
import type { RequestListener } from 'node:http';
import { pino, type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { promPoolMetrics, readPin, SessionPool } from '../../hsm/index.ts';
import { OcspStore } from '../../ocsp/db/ocsp-store.ts';
import { createOcspService, type OcspService } from '../../ocsp/ocsp-service.ts';
import { databaseTime } from '../db/database-time.ts';
import { clockIntervalMs, ClockMonitor, configuredClockCheck } from '../clock/clock-check.ts';
import { clockGatedPool } from './clock-gated-pool.ts';
import { promOcspMetrics } from '../../ocsp/prom-ocsp-metrics.ts';
import { openDatabase } from '../db/connect.ts';
import { listen, type Listening } from '../http/listen.ts';
import { ocspServerConfigSchema, type OcspServerConfig } from './ocsp-server-config.ts';

export interface OcspServer {
  config: OcspServerConfig;
  service: OcspService;
  pool: SessionPool | undefined;
  listen(): Promise<Listening>;
  close(): Promise<void>;
}

export interface CreateOcspServerOptions {
  config: unknown;
  pin?: string;
  clock?: () => Date;
  logger?: Logger;
  /** Whether this process pre-signs (one process of a cluster does; the others only serve). */
  presign?: boolean;
}

export async function createOcspServer(opts: CreateOcspServerOptions): Promise<OcspServer> {
  const config = ocspServerConfigSchema.parse(opts.config);
  const logger = opts.logger ?? pino({ level: config.log.level, base: { service: 'strongroom-ocsp' } });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const db = await openDatabase({ ...(config.databaseUrl ? { url: config.databaseUrl } : {}), dataDir: config.dataDir });
  let pool: SessionPool | undefined;
  try {
    if (config.hsm) {
      const pin = opts.pin ?? (await readPin(config.hsm.pin));
      pool = await SessionPool.open({ primary: { name: 'primary', module: config.hsm.module, token: config.hsm.token, pin }, ...config.hsm.pool, metrics: promPoolMetrics(registry) });
    }
  } catch (e) {
    await db.destroy().catch(() => undefined);
    throw e;
  }
  const ocspConfig = opts.presign === false ? { ...config.ocsp, presignMs: 0 } : config.ocsp;
  const clock = opts.clock ?? (() => new Date());
  const signingClock = new ClockMonitor(configuredClockCheck(config.clock, () => databaseTime(db), clock), clockIntervalMs(config.clock), (s) =>
    s.ok ? logger.info({ clock: s.detail }, 'clock check passes: OCSP answers are signed') : logger.error({ clock: s.detail }, 'clock out of tolerance: no OCSP answer is signed until it is right'),
  );
  const service = createOcspService({ store: new OcspStore(db), config: ocspConfig, ...(pool ? { pool: clockGatedPool(pool, () => signingClock.ok()) } : {}), ...(opts.clock ? { clock: opts.clock } : {}), log: logger, onAnswer: promOcspMetrics(registry) });
  // Besides /ocsp: /metrics for Prometheus and /healthz for load balancers; nothing else.
  const requestListener: RequestListener = (req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/metrics' && req.method === 'GET') {
      void registry.metrics().then((body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body), () => res.writeHead(500).end());
      return;
    }
    service.handler(req, res);
  };
  let listening: Listening | undefined;
  return {
    config,
    service,
    pool,
    async listen() {
      await signingClock.start();
      await service.start();
      listening = await listen({ callback: () => requestListener }, config.http);
      return listening;
    },
    async close() {
      await listening?.close();
      signingClock.stop();
      await service.stop();
      await pool?.close();
      await db.destroy();
    },
  };
}
