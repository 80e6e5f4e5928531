/**
 * The responder's answers as Prometheus counters: by method, by how the answer was made (memory, stored, live,
 * error) and by HTTP status. The ratio of `error` to the rest is the responder's error SLI; `live` is what costs
 * HSM signatures.
 */
import { Counter, type Registry } from 'prom-client';
import type { OcspHandlerOptions } from './http/ocsp-handler.ts';

export function promOcspMetrics(registry: Registry): NonNullable<OcspHandlerOptions['onAnswer']> {
  const answers = new Counter({
    name: 'strongroom_ocsp_answers_total',
    help: 'OCSP requests answered, by method, source (memory, stored, live, error, http-error) and HTTP status',
    labelNames: ['method', 'source', 'status'] as const,
    registers: [registry],
  });
  // Label values are few and fixed: children are cached so the hot path does no label lookup.
  const children = new Map<string, { inc(): void }>();
  return (method, source, status) => {
    const m = method === 'GET' || method === 'POST' ? method : 'other';
    const key = `${m} ${source} ${status}`;
    let c = children.get(key);
    if (!c) {
      c = answers.labels({ method: m, source, status: String(status) });
      children.set(key, c);
    }
    c.inc();
  };
}
