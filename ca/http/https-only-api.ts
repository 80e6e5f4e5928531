/**
 * With HTTPS on, the plain-HTTP listener keeps what relying parties fetch without credentials (OCSP, CRLs, CA
 * certificates, health and metrics) and refuses the enrollment API: a bearer token must never cross the network
 * in clear once there is a choice. 403 with the usual error body, before anything reads the request body.
 */
import type { RequestListener } from 'node:http';
import Koa from 'koa';
import { errorBody } from './error-response.ts';

const API = /^\/v1(\/|$)/;

export function withoutApi(app: { callback(): RequestListener }): Koa {
  const inner = app.callback();
  const guard = new Koa();
  guard.use(async (ctx) => {
    if (API.test(ctx.path)) {
      ctx.status = 403;
      ctx.set('Connection', 'close');
      ctx.body = errorBody({ code: 'forbidden', message: 'the enrollment API is served over HTTPS only' });
      return;
    }
    ctx.respond = false;
    await inner(ctx.req, ctx.res);
  });
  return guard;
}
