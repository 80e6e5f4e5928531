/**
 * The TSA as the CA server runs it, wired from its config: clock monitor, serial allocator, group-commit recorder,
 * the service, and the audit-anchor schedule. The identity source and the stores are handed in.
 */
import { head } from '../audit/index.ts';
import type { AuditDb } from '../audit/index.ts';
import type { AuditAnchorStore } from '../db/audit-anchor-store.ts';
import type { TimestampRecord, TimestampStore } from '../db/timestamp-store.ts';
import { AuditAnchorScheduler } from './audit-anchor.ts';
import { clockIntervalMs, ClockMonitor, configuredClockCheck, type ClockCheck, type ClockStatus } from '../clock/clock-check.ts';
import { SerialAllocator } from './serial-allocator.ts';
import type { TsaConfig } from './tsa-config.ts';
import type { TsaIdentitySource } from './tsa-identity.ts';
import { TsaService } from './tsa-service.ts';
import { GroupCommit } from '../db/group-commit.ts';

export interface TsaLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface CreateTsaOptions {
  config: TsaConfig;
  identity: TsaIdentitySource;
  timestamps: TimestampStore;
  anchors: AuditAnchorStore;
  auditDb: AuditDb;
  clock: () => Date;
  logger: TsaLogger;
  /** Replaces the configured clock check (tests). */
  clockCheck?: ClockCheck;
}

export interface Tsa {
  service: TsaService;
  timestamps: TimestampStore;
  clock: ClockMonitor;
  anchors: AuditAnchorScheduler | undefined;
  recorder: GroupCommit<TimestampRecord>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createTsa(o: CreateTsaOptions): Tsa {
  const c = o.config;
  const check = o.clockCheck ?? configuredClockCheck(c.clock, () => o.timestamps.databaseTime(), o.clock);
  const interval = clockIntervalMs(c.clock);
  const onChange = (s: ClockStatus) => (s.ok ? o.logger.info({ clock: s.detail }, 'TSA clock check passes: time-stamping') : o.logger.error({ clock: s.detail }, 'TSA clock out of tolerance: answering timeNotAvailable'));
  const clock = new ClockMonitor(check, interval, onChange);
  const recorder = new GroupCommit<TimestampRecord>((rows) => o.timestamps.insertMany(rows), c.commit);
  const service = new TsaService({
    identity: o.identity,
    policies: c.policies,
    accuracyMs: c.accuracyMs,
    clock: o.clock,
    clockOk: () => clock.ok(),
    serials: new SerialAllocator((n) => o.timestamps.reserveSerials(n), c.serialBatch),
    recorder,
  });
  const anchors = c.anchor.enabled
    ? new AuditAnchorScheduler({
        head: () => head(o.auditDb),
        latest: () => o.anchors.latest(),
        save: (a) => o.anchors.insert(a),
        timestamp: (digest) => service.issueForDigest('sha256', digest),
        intervalMs: c.anchor.intervalMs,
        onAnchored: (a) => o.logger.info({ seq: a.seq, hash: a.headHash, tsaSerial: a.tsaSerial.toString() }, 'audit log head time-stamped'),
        onError: (err) => o.logger.warn({ err }, 'time-stamping the audit log head failed; retrying at the next interval'),
      })
    : undefined;
  return {
    service,
    timestamps: o.timestamps,
    clock,
    anchors,
    recorder,
    async start() {
      await clock.start();
      anchors?.start();
    },
    async stop() {
      clock.stop();
      await anchors?.stop();
    },
  };
}
