/**
 * How a server knows its clock is right (clock-check.ts): the TSA before it stamps a time, the CA and the standalone
 * OCSP responder before they sign a CRL or an OCSP answer.
 */
import { z } from 'zod';

export const clockSchema = z.discriminatedUnion('check', [
  z.strictObject({
    check: z.literal('database'),
    toleranceMs: z.number().int().min(1).max(60_000).default(1000),
    intervalMs: z.number().int().min(100).max(3_600_000).default(10_000),
  }),
  z.strictObject({ check: z.literal('timedatectl'), intervalMs: z.number().int().min(100).max(3_600_000).default(10_000) }),
  z.strictObject({ check: z.literal('none') }),
]);

export type ClockConfig = z.output<typeof clockSchema>;
