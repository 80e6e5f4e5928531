/**
 * The `tsa` block of the CA server's configuration, validated strictly like the rest:
 *
 *   "tsa": {
 *     "enabled": false,                       // POST /tsa and GET /v1/timestamps/{serial}; off unless asked for
 *     "policies": ["2.25.…"],                 // TSA policy OIDs offered; the first when a request names none
 *     "accuracyMs": 1000,                     // the accuracy every token declares
 *     "clock": { "check": "database", "toleranceMs": 1000, "intervalMs": 10000 },
 *              // or { "check": "timedatectl", "intervalMs": 10000 } or { "check": "none" }
 *     "maxInFlight": 512,                     // requests at once; beyond it 503 + systemFailure at once
 *     "serialBatch": 500,                     // serials reserved per database round trip
 *     "commit": { "delayMs": 12, "maxBatch": 500, "maxConcurrent": 1, "batchTarget": 128 },   // group commit of the token records
 *     "anchor": { "enabled": true, "intervalMs": 3600000 }               // time-stamp the audit-log head
 *   }
 */
import { z } from 'zod';
import { clockSchema } from '../clock/clock-config.ts';

/**
 * A UUID-derived OID (ITU-T X.667 arc 2.25), minted for Strongroom's default TSA policy: valid without a private
 * enterprise number; a deployment names its own policy here.
 */
export const DEFAULT_TSA_POLICY = '2.25.56989730728092024568114726993748181789';

const oid = z.string().regex(/^[0-2](\.(0|[1-9]\d*))+$/, 'a dotted object identifier such as 1.3.6.1.4.1.99999.1');

export const tsaConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    policies: z
      .array(oid)
      .min(1)
      .refine((p) => new Set(p).size === p.length, 'a policy is listed twice')
      .default([DEFAULT_TSA_POLICY]),
    accuracyMs: z.number().int().min(1).max(60_000).default(1000),
    clock: clockSchema.default({ check: 'database', toleranceMs: 1000, intervalMs: 10_000 }),
    maxInFlight: z.number().int().min(1).max(100_000).default(512),
    serialBatch: z.number().int().min(1).max(100_000).default(500),
    commit: z
      .strictObject({
        // Under load a flush waits this long after the previous one, so batches grow: at 5 ms ~65 tokens per COPY, at
        // 12 ms ~130. Each flush costs both processes a wake-up, a statement and a WAL flush; in alternating bench:tsa
        // runs 12 ms beat 8 ms in five pairs of five (+3–6 points of recorded ÷ raw) and 8 ms beat 5 ms (CPU per
        // recorded token 132–143 + 9–10 µs PostgreSQL against 148–164 + 11–13), with p50 no higher. A lone request
        // is not held back: an idle recorder flushes at once.
        delayMs: z.number().int().min(0).max(100).default(12),
        maxBatch: z.number().int().min(1).max(5000).default(500),
        maxConcurrent: z.number().int().min(1).max(16).default(1),
        // The wait above ends once this many tokens are queued (group-commit.ts says why).
        batchTarget: z.number().int().min(1).max(5000).default(128),
      })
      .prefault({}),
    anchor: z
      .strictObject({
        enabled: z.boolean().default(true),
        intervalMs: z.number().int().min(1000).max(7 * 86_400_000).default(3_600_000),
      })
      .prefault({}),
  })
  .prefault({});

export type TsaConfig = z.output<typeof tsaConfigSchema>;
