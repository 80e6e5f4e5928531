/**
 * The responder's settings, validated strictly (unknown keys are errors). Shared by the all-in-one server and
 * `strongroom serve ocsp`.
 */
import { z } from 'zod';

const DAY = 86_400;

export const ocspConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** thisUpdate → nextUpdate of good and revoked answers (RFC 5019 asks for a window; 4 days by default). */
    validitySeconds: z.number().int().min(60).max(30 * DAY).default(4 * DAY),
    /** Re-sign an answer when this fraction of its window has passed. */
    refreshFraction: z.number().gt(0).lt(1).default(0.5),
    /** Window of `unknown` answers (never stored: a serial reserved now may be issued a moment later). */
    unknownValiditySeconds: z.number().int().min(60).max(DAY).default(3600),
    /** The longest an HTTP cache may keep a GET answer (Cache-Control max-age), never past nextUpdate. */
    maxAgeSeconds: z.number().int().min(0).max(30 * DAY).default(3600),
    cacheEntries: z.number().int().min(100).max(10_000_000).default(200_000),
    /** Requests answered off the memory path at once; beyond it, tryLater at once. */
    maxPending: z.number().int().min(1).max(1_000_000).default(4096),
    signDeadlineMs: z.number().int().min(10).max(60_000).default(2000),
    /**
     * High-priority signatures queued at the HSM beyond which a live request (nonce, miss) is answered tryLater at
     * once rather than queued to wait up to signDeadlineMs. Off unless set: under overload it keeps answers fast,
     * but clients that retry at once then send more, and the CA's own API shares the event loop (bench:soak with
     * 256: three times the OCSP requests, and issuance connections starved). Worth it on a responder of its own.
     */
    shedQueuedAbove: z.number().int().min(0).max(1_000_000).optional(),
    reloadMs: z.number().int().min(100).max(3_600_000).default(30_000),
    /** How often answers written by other processes (revocations) are picked up. */
    syncMs: z.number().int().min(50).max(600_000).default(500),
    /** How often due answers are pre-signed; 0: never in this process. */
    presignMs: z.number().int().min(0).max(3_600_000).default(1000),
    presignBatch: z.number().int().min(1).max(10_000).default(500),
    /**
     * How often a pre-signing pass looks at every unexpired certificate; the passes between look only at what is
     * new, due for refresh or revoked (ocsp/presign-cursor.ts).
     */
    presignSweepMs: z.number().int().min(1000).max(86_400_000).default(600_000),
  })
  .prefault({});

export type OcspConfig = z.output<typeof ocspConfigSchema>;
