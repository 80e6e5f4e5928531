/**
 * `strongroom serve ocsp`: a responder process of its own, so that many can serve one database. Strict like the CA's
 * config. Without an `hsm` section it serves pre-signed answers only (and answers tryLater where it would have to
 * sign); `processes` > 1 runs that many responder processes on one port (Node's cluster), which needs PostgreSQL —
 * the embedded database is one process's.
 *
 *   { "dataDir": "var", "databaseUrl": "postgres://…", "http": { "host": "127.0.0.1", "port": 8081, … },
 *     "hsm": { … as the CA's, optional }, "ocsp": { … ocsp/ocsp-config.ts }, "clock": { "check": "database" },
 *     "processes": 1, "log": { "level": "info" } }
 */
import { z } from 'zod';
import { hsmConfigSchema } from '../../hsm/hsm-config.ts';
import { ocspConfigSchema } from '../../ocsp/ocsp-config.ts';
import { clockSchema } from '../clock/clock-config.ts';

export const ocspServerConfigSchema = z.strictObject({
  dataDir: z.string().min(1).default('var'),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// URL')
    .optional(),
  http: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65_535).default(8081),
      headersTimeoutMs: z.number().int().min(100).max(120_000).default(5000),
      requestTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
      keepAliveTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
    })
    .prefault({}),
  hsm: hsmConfigSchema.optional(),
  ocsp: ocspConfigSchema,
  // As the CA's: no answer is signed while the clock check fails (pre-signed answers are still served).
  clock: clockSchema.default({ check: 'database', toleranceMs: 5000, intervalMs: 10_000 }),
  processes: z.number().int().min(1).max(256).default(1),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
});

export type OcspServerConfig = z.output<typeof ocspServerConfigSchema>;
export type OcspServerConfigInput = z.input<typeof ocspServerConfigSchema>;
