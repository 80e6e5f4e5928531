/**
 * HSM settings, validated strictly at the edge: unknown keys are errors. Built from a config file section or from
 * the environment (STRONGROOM_HSM_*); the PIN itself is never part of the config, only where to read it.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parsePinSource, type PinSource } from './pin-source.ts';
import { SOFTHSM_MODULE } from './soft-token.ts';
import { DEFAULT_WORKER_NICE } from './worker-priority.ts';

const tokenSchema = z
  .strictObject({ label: z.string().min(1).max(32).optional(), serial: z.string().min(1).max(16).optional() })
  .refine((t) => t.label !== undefined || t.serial !== undefined, 'select the token by label or serial');

const pinSchema = z.union([
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/) }),
  z.strictObject({ prompt: z.string() }),
]);

export const tokenTargetSchema = z.strictObject({
  module: z.string().min(1).default(SOFTHSM_MODULE),
  token: tokenSchema,
  pin: pinSchema.default({ env: 'STRONGROOM_HSM_PIN' }),
});

/**
 * Operations a session worker holds at once. It is how long a worker goes on signing while the thread that feeds it
 * is busy elsewhere: with 16, time-stamp tokens recorded by group commit left the machine 11-13% idle (the workers
 * drained their 16 while the main thread answered a commit's ~110 callers); with 48, 7-8%. What a worker holds is
 * taken by priority (worker-queue.ts), so the depth does not queue an OCSP signature behind bulk work.
 */
export const DEFAULT_PIPELINE_DEPTH = 48;

export const hsmConfigSchema = z.strictObject({
  ...tokenTargetSchema.shape,
  dr: tokenTargetSchema.optional(),
  pool: z
    .strictObject({
      workers: z.number().int().min(1).max(256).default(availableParallelism()),
      pipelineDepth: z.number().int().min(1).max(256).default(DEFAULT_PIPELINE_DEPTH),
      queueLimit: z.number().int().min(1).max(1_000_000).default(4096),
      deadlineMs: z.number().int().min(10).max(60_000).default(2000),
      keyHandles: z.enum(['token', 'session-copy']).default('session-copy'),
      workerKind: z.enum(['thread', 'process']).default('thread'),
      /** Nice value of the session workers (hsm/worker-priority.ts); 0 runs them at the feeding thread's priority. */
      workerNice: z.number().int().min(0).max(19).default(DEFAULT_WORKER_NICE),
    })
    .prefault({}),
});

export type HsmConfig = z.infer<typeof hsmConfigSchema>;
export type TokenTargetConfig = z.infer<typeof tokenTargetSchema>;

/** The HSM section from environment variables, for the CLI and the dev CA. */
export function hsmConfigFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: { label?: string; module?: string; pin?: PinSource } = {}): HsmConfig {
  const label = overrides.label ?? env.STRONGROOM_HSM_TOKEN ?? 'strongroom';
  const pin = overrides.pin ?? (env.STRONGROOM_HSM_PIN_SOURCE ? parsePinSource(env.STRONGROOM_HSM_PIN_SOURCE) : { env: 'STRONGROOM_HSM_PIN' });
  return hsmConfigSchema.parse({
    module: overrides.module ?? env.STRONGROOM_HSM_MODULE ?? SOFTHSM_MODULE,
    token: env.STRONGROOM_HSM_TOKEN_SERIAL ? { serial: env.STRONGROOM_HSM_TOKEN_SERIAL } : { label },
    pin,
  });
}
