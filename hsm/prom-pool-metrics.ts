/** prom-client implementation of the pool's metric hooks: the SLIs operators run the HSM by. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PoolMetrics } from './pool-metrics.ts';

export function promPoolMetrics(registry: Registry): PoolMetrics {
  const registers = [registry];
  const opSeconds = new Histogram({
    name: 'strongroom_hsm_operation_seconds',
    help: 'Time at the token per HSM operation, by token, operation, key and outcome',
    labelNames: ['token', 'operation', 'key', 'outcome'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5],
    registers,
  });
  const waitSeconds = new Histogram({
    name: 'strongroom_hsm_queue_wait_seconds',
    help: 'Time an HSM operation waited for a session',
    labelNames: ['priority'],
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2],
    registers,
  });
  // Success-ratio inputs: the pool's one operation at the token is signing; the label leaves room for others.
  const ops = new Counter({ name: 'strongroom_hsm_operations_total', help: 'HSM operations that reached a token, by token, operation and outcome', labelNames: ['token', 'operation', 'outcome'], registers });
  const ckrErrors = new Counter({ name: 'strongroom_hsm_errors_total', help: 'PKCS#11 errors by CKR code', labelNames: ['token', 'ckr'], registers });
  const rejected = new Counter({ name: 'strongroom_hsm_rejected_total', help: 'HSM operations rejected before reaching the token', labelNames: ['reason', 'priority'], registers });
  const up = new Gauge({ name: 'strongroom_hsm_token_up', help: '1 when the token serves operations', labelNames: ['token'], registers });
  const busy = new Gauge({ name: 'strongroom_hsm_sessions_busy', help: 'Sessions holding an operation', labelNames: ['token'], registers });
  const sessions = new Gauge({ name: 'strongroom_hsm_sessions', help: 'Sessions open', labelNames: ['token'], registers });
  const queued = new Gauge({ name: 'strongroom_hsm_queue_depth', help: 'Operations waiting for a session', labelNames: ['priority'], registers });
  return {
    operation: (token, key, seconds, outcome) => {
      opSeconds.observe({ token, operation: 'sign', key, outcome }, seconds);
      ops.inc({ token, operation: 'sign', outcome });
    },
    queueWait: (priority, seconds) => waitSeconds.observe({ priority }, seconds),
    ckrError: (token, ckr) => ckrErrors.inc({ token, ckr }),
    rejected: (reason, priority) => rejected.inc({ reason, priority }),
    gauges: (s) => {
      up.set({ token: s.token }, s.up ? 1 : 0);
      busy.set({ token: s.token }, s.busy);
      sessions.set({ token: s.token }, s.sessions);
      for (const [priority, n] of Object.entries(s.queued)) queued.set({ priority }, n);
    },
  };
}
