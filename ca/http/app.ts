/**
 * The CA's HTTP API (Koa). Handlers are thin: check the request, call a service, set the body. Errors are thrown
 * and answered in one place (error-response.ts, applied by the first middleware here).
 *
 *   POST /v1/certificates                   issue (201; 200 for an Idempotency-Key replay)
 *   GET  /v1/certificates/:serial           status, validity, revocation (own certificates; admins: all)
 *   POST /v1/certificates/:serial/revoke    revoke (own certificates; admins: all) → 200 with the status
 *   GET  /crl/:ca.crl                       the issuer's newest CRL, DER (application/pkix-crl)
 *   GET  /crl/delta/:ca.crl                 its newest delta CRL, when delta CRLs are configured
 *   GET  /ca/:ca.crt                        the issuer's certificate, DER (application/pkix-cert)
 *   GET  /healthz /readyz /metrics
 *   POST /tsa, GET /v1/timestamps/:serial    the time-stamp authority, when enabled (tsa-routes.ts)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Router, { type RouterContext } from '@koa/router';
import Koa from 'koa';
import { z } from 'zod';
import type { AuthenticatedClient } from '../clients/index.ts';
import type { IssuanceService } from '../issuance/issuance-service.ts';
import type { IssuerRegistry } from '../issuance/issuer-registry.ts';
import type { CrlService } from '../revocation/crl-service.ts';
import type { CertificateView, RevocationService } from '../revocation/revocation-service.ts';
import { toPem } from '../x509/index.ts';
import { authenticateRequest, type Authenticate } from './auth.ts';
import type { AuthenticatePeer } from './client-certificate-auth.ts';
import { errorAnswer, errorBody } from './error-response.ts';
import { answerBy } from './answer-by.ts';
import { HttpError } from './http-error.ts';
import { readJsonBody } from './json-body.ts';
import { enforceRateLimit, type RateLimits } from './rate-limit.ts';
import { BODY_LIMIT, checkDeclaredLength, ClientAborted } from './raw-body.ts';
import { tsaRouter, type TsaRouteDeps } from './tsa-routes.ts';

export interface AppLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface Readiness {
  ready: boolean;
  hsm: { ready: boolean; serving?: string | undefined };
  database: boolean;
}

export interface AppMetrics {
  contentType: string;
  render(): Promise<string>;
  /** One issuance request's outcome: issued, replayed, or the error code. */
  issuance(profile: string, outcome: string): void;
  request(method: string, route: string, status: number, seconds: number): void;
  /** A request answered 429 by the per-client rate limit (operation: issue or revoke). */
  rateLimited?(operation: string): void;
}

export interface AppDeps {
  issuance: Pick<IssuanceService, 'issue'>;
  authenticate: Authenticate;
  certificates: Pick<RevocationService, 'view' | 'revoke'>;
  crls: Pick<CrlService, 'current' | 'currentDelta' | 'publishesDeltas'>;
  issuers: Pick<IssuerRegistry, 'byName'>;
  readiness(): Promise<Readiness>;
  metrics: AppMetrics;
  logger: AppLogger;
  /** Profile names issuance knows, for metric labels (anything else is counted as "other"). */
  profiles: ReadonlySet<string>;
  clock: () => Date;
  /** Issuance requests handled at once; beyond it, 503 + Retry-After at once. */
  maxInFlight: number;
  /** Every /v1 request is answered within this many ms (503 past it; http.deadlineMs). */
  deadlineMs: number;
  /** Per-client token buckets (limits.perClient): 429 + Retry-After past them. Absent: no per-client limits. */
  rateLimits?: RateLimits;
  /** The longest a cache may keep a CRL, in seconds; never past its nextUpdate. */
  crlMaxAgeSeconds: number;
  bodyLimit?: number;
  /** HTTPS with client certificates: who a verified peer certificate speaks for, when no Authorization is sent. */
  authenticatePeer?: AuthenticatePeer;
  /** The time-stamp authority's routes (tsa-routes.ts); absent when the TSA is disabled. */
  tsa?: TsaRouteDeps;
  /** Raw node:http handlers for a path prefix, e.g. { prefix: '/ocsp', handler }. */
  passthrough?: readonly { prefix: string; handler: (req: IncomingMessage, res: ServerResponse) => void }[];
  /** An offline authority's CRL or certificate at /crl/NAME.crl or /ca/NAME.crt (DER), when no issuer has that name. */
  published?: (path: string) => Promise<Uint8Array | undefined>;
}

interface State {
  client?: AuthenticatedClient;
}

type Ctx = RouterContext<State>;

const issueSchema = z.strictObject({
  csr: z.string().min(1),
  profile: z.string().min(1).max(100),
  validityDays: z.number().optional(),
});

const revokeSchema = z.strictObject({ reason: z.string().min(1).max(64) });

const IDEMPOTENCY_KEY = /^[!-~]{1,128}$/;

function idempotencyKeyOf(ctx: Ctx): string | undefined {
  const raw = ctx.get('Idempotency-Key');
  if (raw === '') return ctx.headers['idempotency-key'] === undefined ? undefined : badKey();
  if (!IDEMPOTENCY_KEY.test(raw)) return badKey();
  return raw;
}

function badKey(): never {
  throw new HttpError('bad_request', 'Idempotency-Key must be 1 to 128 printable ASCII characters without spaces');
}

function viewJson(v: CertificateView) {
  return {
    serial: v.serial,
    ca: v.ca,
    status: v.status,
    profile: v.profile,
    subject: v.subject,
    sans: v.sans,
    notBefore: v.notBefore.toISOString(),
    notAfter: v.notAfter.toISOString(),
    issuedAt: v.issuedAt?.toISOString() ?? null,
    revocation: v.revocation ? { revokedAt: v.revocation.revokedAt.toISOString(), reason: v.revocation.reason } : null,
    certificate: v.certificate ? toPem(v.certificate, 'CERTIFICATE') : null,
  };
}

type PublishedCrl = NonNullable<Awaited<ReturnType<CrlService['current']>>>;

/** `name.ext` from a route parameter (already percent-decoded by the router). */
function fileName(param: string | undefined, ext: string): string {
  if (!param || !param.endsWith(ext) || param.length === ext.length || param.length > 200) throw new HttpError('not_found', 'no such resource');
  return param.slice(0, -ext.length);
}

export function createApp(deps: AppDeps): Koa<State> {
  const app = new Koa<State>();
  const router = new Router<State>();
  const bodyLimit = deps.bodyLimit ?? BODY_LIMIT;
  let inFlight = 0;
  const tooLate = () => new HttpError('unavailable', 'the CA could not complete the request in time; try again', 5);
  const limitClient = (client: AuthenticatedClient, operation: string) => {
    if (deps.rateLimits) enforceRateLimit(deps.rateLimits.client(client.name), `client ${JSON.stringify(client.name)}`, () => deps.metrics.rateLimited?.(operation));
  };

  // Protocols with their own handler (OCSP): handed the raw request before any JSON-API middleware or request log,
  // which would cost more than answering them.
  for (const p of deps.passthrough ?? []) {
    app.use((ctx, next) => {
      if (ctx.path !== p.prefix && !ctx.path.startsWith(`${p.prefix}/`)) return next();
      ctx.respond = false;
      p.handler(ctx.req, ctx.res);
      return Promise.resolve();
    });
  }

  // Errors, the request log and the request metric.
  app.use(async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new HttpError('not_found', 'no such resource');
    } catch (e) {
      if (e instanceof ClientAborted) {
        ctx.status = 400;
        ctx.set('Connection', 'close');
        ctx.body = errorBody({ code: 'bad_request', message: 'incomplete request' });
      } else {
        const routerStatus = (e as { status?: number; expose?: boolean }).status;
        const a = errorAnswer(routerStatus === 405 || routerStatus === 501 ? new HttpError('method_not_allowed', 'method not allowed') : e);
        if (a.internal) deps.logger.error({ err: e, method: ctx.method, path: ctx.path }, 'request failed');
        ctx.status = a.status;
        ctx.set(a.headers);
        ctx.body = errorBody(a);
      }
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      deps.metrics.request(ctx.method, String(route), ctx.status, seconds);
      deps.logger.info({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1000), client: ctx.state.client?.name }, 'request');
    }
  });

  const authenticated = async (ctx: Ctx) => {
    const authorization = ctx.get('Authorization') || undefined;
    // A bearer token, when sent, decides alone; without one, a bound client certificate may speak for the client.
    const peer = authorization === undefined ? deps.authenticatePeer : undefined;
    return (ctx.state.client = await authenticateRequest(authorization, peer ? () => peer(ctx.req.socket) : deps.authenticate));
  };

  /** Authenticated and within the client's rate, before a body is read; past the deadline the request was answered. */
  const admitted = async (ctx: Ctx, deadlineAt: number, operation: string) => {
    const client = await authenticated(ctx);
    // Answered already: the body is not read (Node discards it with the answer), nothing else is done.
    if (performance.now() > deadlineAt) throw tooLate();
    limitClient(client, operation);
    return client;
  };

  router.post('/v1/certificates', async (ctx) => {
    let profileLabel = 'other';
    let outcome = 'error';
    // Load shedding comes first: past capacity nothing is read or looked up.
    if (inFlight >= deps.maxInFlight) {
      deps.metrics.issuance(profileLabel, 'unavailable');
      throw new HttpError('unavailable', 'the CA is at capacity; try again', 1);
    }
    inFlight++;
    let work: Promise<unknown> | undefined;
    try {
      checkDeclaredLength(ctx.req, bodyLimit);
      const deadlineAt = performance.now() + deps.deadlineMs;
      const issuing = (async () => {
        const client = await admitted(ctx, deadlineAt, 'issue');
        const body = await readJsonBody(ctx.req, issueSchema, bodyLimit);
        if (deps.profiles.has(body.profile)) profileLabel = body.profile;
        if (deps.rateLimits) enforceRateLimit(deps.rateLimits.profile(client.name, body.profile), `client ${JSON.stringify(client.name)} and this profile`, () => deps.metrics.rateLimited?.('issue'));
        const idempotencyKey = idempotencyKeyOf(ctx);
        return deps.issuance.issue({
          csr: body.csr,
          profile: body.profile,
          ...(body.validityDays !== undefined ? { validityDays: body.validityDays } : {}),
          client,
          ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
          deadlineAt,
        });
      })();
      work = issuing;
      const r = await answerBy(deadlineAt, issuing, tooLate);
      outcome = r.replayed ? 'replayed' : 'issued';
      ctx.status = r.replayed ? 200 : 201;
      ctx.set('Location', `/v1/certificates/${r.serial}`);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { serial: r.serial, certificate: toPem(r.der, 'CERTIFICATE'), chain: r.chain.map((c) => toPem(c, 'CERTIFICATE')) };
    } catch (e) {
      outcome = e instanceof ClientAborted ? 'aborted' : errorAnswer(e).code;
      throw e;
    } finally {
      // Answered at the deadline, the request keeps its place until its work stops: a stuck database cannot pile up
      // work past maxInFlight (what comes next is refused at capacity).
      const release = () => void inFlight--;
      if (work) void work.then(release, release);
      else release();
      deps.metrics.issuance(profileLabel, outcome);
    }
  });

  router.get('/v1/certificates/:serial', async (ctx) => {
    const deadlineAt = performance.now() + deps.deadlineMs;
    const view = answerBy(deadlineAt, (async () => deps.certificates.view(ctx.params.serial!, await authenticated(ctx)))(), tooLate);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = viewJson(await view);
  });

  router.post('/v1/certificates/:serial/revoke', async (ctx) => {
    checkDeclaredLength(ctx.req, bodyLimit);
    const deadlineAt = performance.now() + deps.deadlineMs;
    const revoking = (async () => {
      const client = await admitted(ctx, deadlineAt, 'revoke');
      const body = await readJsonBody(ctx.req, revokeSchema, bodyLimit);
      // Past the deadline a revocation still goes through: it is what was asked, and asking again answers 200 with it.
      return (await deps.certificates.revoke(ctx.params.serial!, body.reason, client)).view;
    })();
    const view = await answerBy(deadlineAt, revoking, tooLate);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = viewJson(view);
  });

  router.get('/crl/:file', async (ctx) => {
    const issuer = deps.issuers.byName(fileName(ctx.params.file, '.crl'));
    if (!issuer) {
      await servePublished(ctx, 'application/pkix-crl');
      return;
    }
    const crl = await deps.crls.current(issuer.row.id);
    if (!crl) throw new HttpError('unavailable', 'no CRL has been published yet; try again', 5);
    serveCrl(ctx, issuer.row.id, crl);
  });

  router.get('/crl/delta/:file', async (ctx) => {
    const issuer = deps.issuers.byName(fileName(ctx.params.file, '.crl'));
    if (!issuer || !deps.crls.publishesDeltas) throw new HttpError('not_found', 'no such resource');
    const crl = await deps.crls.currentDelta(issuer.row.id);
    if (!crl) throw new HttpError('unavailable', 'no delta CRL has been published yet; try again', 5);
    serveCrl(ctx, issuer.row.id, crl);
  });

  function serveCrl(ctx: Koa.Context, caId: number, crl: PublishedCrl): void {
    const secondsLeft = Math.floor((crl.nextUpdate.getTime() - deps.clock().getTime()) / 1000);
    ctx.status = 200;
    ctx.set('Cache-Control', `public, max-age=${Math.max(0, Math.min(secondsLeft, deps.crlMaxAgeSeconds))}, no-transform`);
    ctx.set('Last-Modified', crl.thisUpdate.toUTCString());
    ctx.set('ETag', `"${caId}-${crl.crlNumber.toString()}"`);
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'application/pkix-crl';
    ctx.body = Buffer.from(crl.der);
  }

  router.get('/ca/:file', async (ctx) => {
    const issuer = deps.issuers.byName(fileName(ctx.params.file, '.crt'));
    if (!issuer) {
      await servePublished(ctx, 'application/pkix-cert');
      return;
    }
    ctx.set('Cache-Control', 'public, max-age=86400, no-transform');
    ctx.type = 'application/pkix-cert';
    ctx.body = Buffer.from(issuer.row.certificateDer);
  });

  async function servePublished(ctx: Koa.Context, type: string): Promise<void> {
    const der = await deps.published?.(ctx.path).catch((err: unknown) => {
      deps.logger.error({ err, path: ctx.path }, 'a published file could not be read');
      throw new HttpError('unavailable', 'not available right now; try again', 60);
    });
    if (!der) throw new HttpError('not_found', 'no such CA');
    ctx.set('Cache-Control', 'public, max-age=3600, no-transform');
    ctx.type = type;
    ctx.body = Buffer.from(der);
  }

  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    const r = await deps.readiness();
    ctx.set('Cache-Control', 'no-store');
    ctx.status = r.ready ? 200 : 503;
    if (!r.ready) ctx.set('Retry-After', '5');
    ctx.body = { ready: r.ready, hsm: r.hsm, database: r.database ? 'ok' : 'unavailable' };
  });

  router.get('/metrics', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = deps.metrics.contentType;
    ctx.body = await deps.metrics.render();
  });

  if (deps.tsa) {
    const tsa = tsaRouter({ ...deps.tsa, authenticated, logger: deps.logger });
    app.use(tsa.routes());
    app.use(tsa.allowedMethods({ throw: true }));
  }
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  // Failures while writing a response (the client went away) land here rather than on stderr.
  app.on('error', (err: unknown) => deps.logger.warn({ err }, 'response failed'));
  return app;
}
