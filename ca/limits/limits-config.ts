/**
 * Per-client rate limits, off unless configured. A client named under `clients` gets its own rate; any other
 * client gets `default` (no default: only the named clients are limited). `profiles` adds a second bucket per client
 * and profile for issuance — e.g. a slow rate for a profile whose certificates are costly to have in circulation.
 *
 *   "limits": { "perClient": {
 *     "default": { "ratePerSecond": 5, "burst": 20 },
 *     "clients": { "ci-runner": { "ratePerSecond": 50, "burst": 100 } },
 *     "profiles": { "code-signing": { "ratePerSecond": 0.01, "burst": 2 } } } }
 */
import { z } from 'zod';

export const bucketSchema = z.strictObject({
  ratePerSecond: z.number().positive().max(1_000_000),
  burst: z.number().int().min(1).max(1_000_000),
});
export type BucketConfig = z.output<typeof bucketSchema>;

export const limitsConfigSchema = z
  .strictObject({
    perClient: z
      .strictObject({
        default: bucketSchema.optional(),
        clients: z.record(z.string().min(1).max(200), bucketSchema).default({}),
        profiles: z.record(z.string().min(1).max(100), bucketSchema).default({}),
      })
      .optional(),
  })
  .prefault({});
export type LimitsConfig = z.output<typeof limitsConfigSchema>;
