/**
 * The time-stamp authority's routes, mounted by app.ts when the TSA is enabled:
 *
 *   POST /tsa                      application/timestamp-query → application/timestamp-reply (RFC 3161 over HTTP)
 *   GET  /v1/timestamps/:serial    a recorded token: serial, genTime, policy, imprint, nonce, the token (Bearer)
 *
 * Order for POST /tsa: capacity (503 + systemFailure) → Content-Type (415) → declared length (413) → body read
 * with the limit (413) → the service. Everything the protocol can say is said in the TimeStampResp (HTTP 200);
 * only overload and an unreachable HSM or database are also HTTP 503 with Retry-After (tsa-failure.ts).
 */
import Router, { type RouterContext } from '@koa/router';
import type { AuthenticatedClient } from '../clients/index.ts';
import type { StoredTimestamp } from '../db/timestamp-store.ts';
import type { TsaAnswer } from '../tsa/tsa-service.ts';
import { rejectionResponse } from '../tsa/timestamp-response.ts';
import type { AppLogger } from './app.ts';
import { HttpError } from './http-error.ts';
import { checkDeclaredLength, readRawBody } from './raw-body.ts';

/** A TimeStampReq is a few hundred bytes; extensions (which we refuse anyway) do not need more than this. */
export const TSA_BODY_LIMIT = 8 * 1024;

export interface TsaRouteDeps {
  tsa: { respond(der: Uint8Array): Promise<TsaAnswer> };
  timestamps: { bySerial(serial: bigint): Promise<StoredTimestamp | undefined> };
  /** Requests handled at once; beyond it, 503 + systemFailure at once. */
  maxInFlight: number;
}

const SERIAL = /^(?:[1-9]\d{0,18}|0x[0-9a-fA-F]{1,16})$/;
const MAX_SERIAL = 2n ** 63n - 1n; // the bigint column

interface State {
  client?: AuthenticatedClient;
}

/** `authenticated` is the app's own check (bearer token, or a bound client certificate): one rule for all /v1 routes. */
export function tsaRouter(deps: TsaRouteDeps & { authenticated: (ctx: RouterContext<State>) => Promise<AuthenticatedClient>; logger: AppLogger }): Router<State> {
  const router = new Router<State>();
  let inFlight = 0;

  router.post('/tsa', async (ctx) => {
    const reply = (status: number, der: Uint8Array, retryAfter?: number) => {
      ctx.status = status;
      ctx.type = 'application/timestamp-reply';
      ctx.set('Cache-Control', 'no-store');
      if (retryAfter !== undefined) ctx.set('Retry-After', String(retryAfter));
      ctx.body = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
    };
    if (inFlight >= deps.maxInFlight) return reply(503, rejectionResponse('systemFailure', 'the TSA is at capacity; try again later'), 1);
    inFlight++;
    try {
      const type = (ctx.get('Content-Type').split(';')[0] ?? '').trim().toLowerCase();
      if (type !== 'application/timestamp-query') throw new HttpError('unsupported_media_type', 'the body must be application/timestamp-query (RFC 3161)');
      checkDeclaredLength(ctx.req, TSA_BODY_LIMIT);
      const body = await readRawBody(ctx.req, TSA_BODY_LIMIT);
      const answer = await deps.tsa.respond(body);
      if (answer.internalError) deps.logger.error({ err: answer.internalError }, 'time-stamp request failed');
      reply(answer.httpStatus, answer.der, answer.retryAfter);
    } finally {
      inFlight--;
    }
  });

  router.get('/v1/timestamps/:serial', async (ctx) => {
    await deps.authenticated(ctx);
    const raw = ctx.params.serial ?? '';
    if (!SERIAL.test(raw) || BigInt(raw) > MAX_SERIAL) throw new HttpError('not_found', 'no such time-stamp');
    const t = await deps.timestamps.bySerial(BigInt(raw));
    if (!t) throw new HttpError('not_found', 'no such time-stamp');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      serial: t.serial.toString(),
      serialHex: t.serial.toString(16),
      genTime: t.genTime.toISOString(),
      policy: t.policy,
      hashAlgorithm: t.hashAlgorithm,
      imprint: Buffer.from(t.imprint).toString('hex'),
      nonce: t.nonce ? Buffer.from(t.nonce).toString('hex') : null,
      tsaCertificateSha256: t.tsaCertSha256,
      token: Buffer.from(t.tokenDer).toString('base64'),
    };
  });

  return router;
}
