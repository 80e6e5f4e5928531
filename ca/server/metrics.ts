/** The CA's own Prometheus metrics, next to the HSM pool's (promPoolMetrics) in one registry. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppMetrics } from '../http/app.ts';

export interface CaMetrics extends AppMetrics {
  registry: Registry;
  crlPublished(ca: string, crlNumber: bigint, nextUpdate: Date): void;
  crlFailed(ca: string): void;
  revocationToCrl(seconds: number): void;
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
  };
}
