/**
 * Reads a request body with a hard limit, from the stream itself: a declared Content-Length above the limit is
 * refused before a byte is read, and a chunked body is refused the moment it passes the limit, so no more than
 * `limit` bytes are ever held. The answer to an oversized body closes the connection (error-response.ts sets
 * Connection: close), so the rest is never read.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.ts';

export const BODY_LIMIT = 64 * 1024;

export class ClientAborted extends Error {
  override readonly name = 'ClientAborted';
}

const tooLarge = (limit: number) => new HttpError('too_large', `the request body may be at most ${limit} bytes`);

/** Refuses a declared length above the limit without reading anything. */
export function checkDeclaredLength(req: IncomingMessage, limit = BODY_LIMIT): void {
  const declared = req.headers['content-length'];
  if (declared === undefined) return;
  if (!/^\d{1,15}$/.test(declared)) throw new HttpError('bad_request', 'Content-Length is not a number');
  if (Number(declared) > limit) throw tooLarge(limit);
}

export function readRawBody(req: IncomingMessage, limit = BODY_LIMIT): Promise<Buffer> {
  try {
    checkDeclaredLength(req, limit);
  } catch (e) {
    return Promise.reject(e);
  }
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  // The client left while the request waited for its turn (authentication reads the database first): Node destroyed
  // the request then, and a destroyed stream emits nothing more, so waiting for its events would wait for ever.
  if (req.destroyed) return Promise.reject(new ClientAborted('the client closed the connection before the body was read'));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const fail = (e: Error) => {
      cleanup();
      // Stop reading; the socket is closed with the response (or already gone).
      req.pause();
      reject(e);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return fail(tooLarge(limit));
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => fail(new ClientAborted(e.message));
    const onClose = () => fail(new ClientAborted('the client closed the connection before sending the whole body'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
