/**
 * The OCSP responder as a unit to embed: responder, background schedule and HTTP handler, built from the
 * validated config. The all-in-one CA server and `strongroom serve ocsp` both compose it; neither knows its parts.
 */
import type { SigningPool } from '../hsm/index.ts';
import type { OcspStore } from './db/ocsp-store.ts';
import { ocspHandler, type OcspHandlerOptions } from './http/ocsp-handler.ts';
import type { OcspConfig } from './ocsp-config.ts';
import { OcspResponder } from './ocsp-responder.ts';
import { ResponderSchedule } from './responder-schedule.ts';

export interface OcspServiceOptions {
  store: OcspStore;
  config: OcspConfig;
  /** Absent: a responder with no HSM access, serving pre-signed answers only (and never pre-signing). */
  pool?: SigningPool;
  clock?: () => Date;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  onAnswer?: OcspHandlerOptions['onAnswer'];
}

export interface OcspService {
  responder: OcspResponder;
  handler: ReturnType<typeof ocspHandler>;
  /** Loads issuers and responders, then starts the schedule. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createOcspService(o: OcspServiceOptions): OcspService {
  const c = o.config;
  const responder = new OcspResponder({
    store: o.store,
    ...(o.pool ? { pool: o.pool } : {}),
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.log ? { log: o.log } : {}),
    validitySeconds: c.validitySeconds,
    refreshFraction: c.refreshFraction,
    unknownValiditySeconds: c.unknownValiditySeconds,
    cacheSlots: c.cacheEntries,
    cacheRequests: c.cacheEntries,
    signDeadlineMs: c.signDeadlineMs,
    presignSweepMs: c.presignSweepMs,
    ...(c.shedQueuedAbove !== undefined ? { shedQueuedAbove: c.shedQueuedAbove } : {}),
  });
  const schedule = new ResponderSchedule(responder, {
    reloadMs: c.reloadMs,
    syncMs: c.syncMs,
    presignMs: o.pool ? c.presignMs : 0,
    presignBatch: c.presignBatch,
    ...(o.log ? { log: o.log } : {}),
  });
  const handler = ocspHandler(responder, {
    maxPending: c.maxPending,
    maxAgeSeconds: c.maxAgeSeconds,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.onAnswer ? { onAnswer: o.onAnswer } : {}),
  });
  return {
    responder,
    handler,
    async start() {
      // A database that is down at start must not stop serving: the schedule reloads until it succeeds.
      await responder.reload().catch((err: unknown) => o.log?.warn({ err }, 'loading OCSP issuers failed; retrying on schedule'));
      schedule.start();
    },
    stop: () => schedule.stop(),
  };
}
