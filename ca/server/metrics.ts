/** The CA's own Prometheus metrics, next to the HSM pool's (promPoolMetrics) in one registry. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppMetrics } from '../http/app.ts';

export interface CaMetrics extends AppMetrics {
  registry: Registry;
  crlPublished(ca: string, crlNumber: bigint, nextUpdate: Date): void;
  crlFailed(ca: string): void;
  revocationToCrl(seconds: number): void;
  /** Days until notAfter of each certificate in service (kind: ca, ocsp, tsa, https); replaces the previous set. */
  certificateExpiry(rows: readonly { kind: string; name: string; days: number }[]): void;
  /** Days until nextUpdate of each CA's newest CRL in the database; replaces the previous set. */
  crlExpiry(rows: readonly { ca: string; days: number }[]): void;
  /** The audit log's head seq: every event written, by any process (gapless, so it counts them). */
  auditHead(seq: number): void;
  /** From the audit log: the last successful restore drill, and the newest backup a drill restored (0: never). */
  drills(last: { drillSuccess: Date | undefined; drillFailure: Date | undefined; backup: Date | undefined }): void;
  /** A request answered 429 by the per-client rate limit. */
  rateLimited(operation: string): void;
}

export function caMetrics(registry = new Registry()): CaMetrics {
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'strongroom_' });
  const issuance = new Counter({ name: 'strongroom_issuance_requests_total', help: 'Certificate requests by profile and outcome (issued, replayed, or the error code)', labelNames: ['profile', 'outcome'], registers });
  const revocationToCrl = new Histogram({
    name: 'strongroom_revocation_to_crl_seconds',
    help: 'Time from a revocation to the publication of the first CRL listing it',
    buckets: [0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300],
    registers,
  });
  const crlNumber = new Gauge({ name: 'strongroom_crl_number', help: 'cRLNumber of the newest CRL published by this process, per CA', labelNames: ['ca'], registers });
  const crlNextUpdate = new Gauge({ name: 'strongroom_crl_next_update_timestamp_seconds', help: 'nextUpdate of the newest CRL published by this process, per CA', labelNames: ['ca'], registers });
  const crlFailures = new Counter({ name: 'strongroom_crl_publish_failures_total', help: 'CRL publications that failed (the previous CRL stays published)', labelNames: ['ca'], registers });
  const requests = new Histogram({
    name: 'strongroom_http_request_seconds',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const certDays = new Gauge({ name: 'strongroom_certificate_expiry_days', help: 'Days until notAfter of each CA, OCSP responder, TSA and HTTPS certificate in service', labelNames: ['kind', 'name'], registers });
  const crlDays = new Gauge({ name: 'strongroom_crl_expiry_days', help: "Days until nextUpdate of each CA's newest CRL", labelNames: ['ca'], registers });
  const auditHead = new Gauge({ name: 'strongroom_audit_events_written', help: 'Audit events written by every process: the head seq of the gapless audit log (use rate())', registers });
  // Timestamps, not ages: Prometheus computes time() - x, and the value survives restarts (read from the audit log).
  const drillOk = new Gauge({ name: 'strongroom_restore_drill_last_success_timestamp_seconds', help: 'When the last restore drill succeeded (0: never)', registers });
  const drillFailed = new Gauge({ name: 'strongroom_restore_drill_last_failure_timestamp_seconds', help: 'When the last restore drill failed (0: never)', registers });
  const backupAt = new Gauge({ name: 'strongroom_key_backup_last_success_timestamp_seconds', help: 'When the newest key backup a restore drill proved restorable was made (0: none)', registers });
  const rateLimited = new Counter({ name: 'strongroom_rate_limited_total', help: 'Requests answered 429 by the per-client rate limit, by operation', labelNames: ['operation'], registers });
  const seconds = (d: Date | undefined) => (d ? d.getTime() / 1000 : 0);
  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    issuance: (profile, outcome) => issuance.inc({ profile, outcome }),
    request: (method, route, status, seconds) => requests.observe({ method, route, status: String(status) }, seconds),
    crlPublished: (ca, n, nextUpdate) => {
      // A gauge holds a float: exact up to 2^53, far beyond any CRL count.
      crlNumber.set({ ca }, Number(n));
      crlNextUpdate.set({ ca }, nextUpdate.getTime() / 1000);
    },
    crlFailed: (ca) => crlFailures.inc({ ca }),
    revocationToCrl: (s) => revocationToCrl.observe(s),
    certificateExpiry: (rows) => {
      certDays.reset();
      for (const r of rows) certDays.set({ kind: r.kind, name: r.name }, r.days);
    },
    crlExpiry: (rows) => {
      crlDays.reset();
      for (const r of rows) crlDays.set({ ca: r.ca }, r.days);
    },
    auditHead: (seq) => auditHead.set(seq),
    drills: (last) => {
      drillOk.set(seconds(last.drillSuccess));
      drillFailed.set(seconds(last.drillFailure));
      backupAt.set(seconds(last.backup));
    },
    rateLimited: (operation) => rateLimited.inc({ operation }),
  };
}
