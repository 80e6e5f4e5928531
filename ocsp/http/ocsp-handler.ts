/**
 * OCSP over HTTP (RFC 6960 Appendix A, RFC 5019 §5–6) as a plain node:http handler: the hot path is a few
 * microseconds of work per request, and a framework's per-request cost would dominate it.
 *
 *   POST /ocsp            body: DER OCSPRequest, Content-Type application/ocsp-request
 *   GET  /ocsp/{base64}   the URL-encoded base64 DER request (RFC 5019 §5)
 *
 * Transport problems are HTTP errors: 400 (GET payload not base64), 413 (POST body over 10 KiB, refused before
 * reading it), 414 (GET path over 1 KiB), 415 (wrong Content-Type), 405 (another method), 404 (another path).
 * Everything that reaches the responder gets HTTP 200 with an OCSP response, successful or not.
 * GET answers without a nonce carry RFC 5019 §6.2 caching headers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OCSP_TRY_LATER } from '../encoding/index.ts';
import type { OcspAnswer, OcspResponder } from '../ocsp-responder.ts';

export const MAX_POST_BYTES = 10 * 1024;
export const MAX_GET_PATH = 1024;
const CONTENT_TYPE = 'application/ocsp-response';
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

export interface OcspHandlerOptions {
  /** Requests being answered off the memory path at once; beyond it, tryLater at once (memory stays flat). */
  maxPending?: number;
  /** The longest an HTTP cache may keep an answer, in seconds (never past its nextUpdate). */
  maxAgeSeconds?: number;
  /** The path prefix, '/ocsp' by default. */
  prefix?: string;
  clock?: () => Date;
  onAnswer?: (method: string, source: OcspAnswer['source'] | 'http-error', status: number) => void;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export function ocspHandler(responder: OcspResponder, o: OcspHandlerOptions = {}): Handler & { pending(): number } {
  const maxPending = o.maxPending ?? 4096;
  const maxAge = o.maxAgeSeconds ?? 3600;
  const prefix = o.prefix ?? '/ocsp';
  const clock = o.clock ?? (() => new Date());
  let pending = 0;

  const httpError = (req: IncomingMessage, res: ServerResponse, status: number, extra: Record<string, string> = {}) => {
    o.onAnswer?.(req.method ?? '', 'http-error', status);
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...extra });
    res.end(`${status}\n`);
  };

  const send = (req: IncomingMessage, res: ServerResponse, answer: OcspAnswer, cacheable: boolean) => {
    o.onAnswer?.(req.method ?? '', answer.source, 200);
    const headers: Record<string, string | number> = { 'Content-Type': CONTENT_TYPE, 'Content-Length': answer.der.length };
    const slot = answer.cacheable;
    if (cacheable && slot) {
      const seconds = Math.floor((slot.nextUpdate.getTime() - clock().getTime()) / 1000);
      headers['Cache-Control'] = `max-age=${Math.max(0, Math.min(maxAge, seconds))}, public, no-transform, must-revalidate`;
      headers['Expires'] = slot.expires;
      headers['Last-Modified'] = slot.lastModified;
      headers['ETag'] = slot.etag;
      if (req.headers['if-none-match'] === slot.etag) {
        delete headers['Content-Length'];
        res.writeHead(304, headers);
        res.end();
        return;
      }
    } else {
      headers['Cache-Control'] = 'no-cache, no-store';
    }
    res.writeHead(200, headers);
    res.end(answer.der);
  };

  const answer = (req: IncomingMessage, res: ServerResponse, der: Uint8Array, cacheable: boolean) => {
    const fast = responder.answerFromMemory(der);
    if (fast) return send(req, res, fast, cacheable);
    if (pending >= maxPending) return send(req, res, { der: OCSP_TRY_LATER, source: 'error' }, false);
    pending++;
    responder
      .respondUncached(der)
      .then((a) => {
        if (!res.destroyed) send(req, res, a, cacheable);
      })
      .catch(() => {
        if (!res.destroyed) send(req, res, { der: OCSP_TRY_LATER, source: 'error' }, false);
      })
      .finally(() => pending--);
  };

  const handler: Handler = (req, res) => {
    const url = req.url ?? '';
    const path = url.split('?', 1)[0]!;
    if (path !== prefix && path !== `${prefix}/` && !path.startsWith(`${prefix}/`)) return httpError(req, res, 404);

    if (req.method === 'GET') {
      if (url.length > prefix.length + 1 + MAX_GET_PATH) return httpError(req, res, 414);
      let b64: string;
      try {
        b64 = decodeURIComponent(path.slice(prefix.length + 1)).replace(/ /g, '+');
      } catch {
        return httpError(req, res, 400);
      }
      if (b64 === '' || !BASE64.test(b64)) return httpError(req, res, 400);
      const der = Buffer.from(b64, 'base64');
      if (der.length === 0) return httpError(req, res, 400);
      return answer(req, res, der, true);
    }

    if (req.method === 'POST') {
      const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
      if (type !== 'application/ocsp-request') return refuse(req, res, 415, httpError);
      const declared = Number(req.headers['content-length'] ?? NaN);
      if (declared > MAX_POST_BYTES) return refuse(req, res, 413, httpError);
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (c: Buffer) => {
        if (over) return;
        size += c.length;
        if (size > MAX_POST_BYTES) {
          over = true;
          refuse(req, res, 413, httpError);
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (over || res.headersSent) return;
        answer(req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), false);
      });
      req.on('error', () => res.destroy());
      return;
    }

    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) return httpError(req, res, 405, { Allow: 'GET, POST' });
    return refuse(req, res, 405, httpError, { Allow: 'GET, POST' });
  };

  return Object.assign(handler, { pending: () => pending });
}

/** Answers and closes the connection: a refused body is never read. */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, httpError: (req: IncomingMessage, res: ServerResponse, status: number, extra?: Record<string, string>) => void, extra: Record<string, string> = {}): void {
  httpError(req, res, status, { ...extra, Connection: 'close' });
  req.pause();
  res.on('finish', () => req.socket.destroy());
}
