// readRawBody on a request whose client is already gone when the body is asked for. Under overload the CA reads the
// body only after authenticating, and a client may give up (its timeout) meanwhile: its 'close' then came before
// anyone listened, and the read used to wait forever — the issuance kept its place among http.maxInFlight for good,
// and after enough of them the CA answered "at capacity" to everyone (bench:soak, 2026-11-29).
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientAborted, readRawBody } from '../../ca/http/raw-body.ts';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

/** A server whose handler waits for `before` to hold, then reads the body; resolves with how the read ended. */
async function readAfter(before: (req: IncomingMessage) => Promise<unknown>, send: (port: number) => void): Promise<{ outcome: string; ms: number }> {
  let settle!: (r: { outcome: string; ms: number }) => void;
  const result = new Promise<{ outcome: string; ms: number }>((r) => (settle = r));
  server = createServer((req, res) => {
    void (async () => {
      await before(req);
      const t0 = performance.now();
      const timer = setTimeout(() => settle({ outcome: 'still waiting', ms: performance.now() - t0 }), 2000);
      try {
        const body = await readRawBody(req);
        settle({ outcome: `body ${body.length}`, ms: performance.now() - t0 });
      } catch (e) {
        settle({ outcome: e instanceof ClientAborted ? 'aborted' : `error ${(e as Error).message}`, ms: performance.now() - t0 });
      } finally {
        clearTimeout(timer);
        res.destroy();
      }
    })();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  send((server.address() as AddressInfo).port);
  return result;
}

const partial = (port: number) => {
  const s = connect(port, '127.0.0.1', () => {
    s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"csr":');
    setTimeout(() => s.destroy(), 50);
  });
};
const wholeThenGone = (port: number) => {
  const s = connect(port, '127.0.0.1', () => {
    s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    setTimeout(() => s.destroy(), 20);
  });
};
const whole = (port: number) => {
  const s = connect(port, '127.0.0.1', () => s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'));
};

describe('readRawBody', () => {
  it('a client gone before the body is asked for: ClientAborted at once, not a wait for ever', async () => {
    // The whole request arrived, then the client left, while the handler was busy elsewhere (authentication).
    // (Not events.once: it rejects on the 'error' that comes first.)
    const r = await readAfter((req) => new Promise((resolve) => req.on('close', resolve)), wholeThenGone);
    expect(r.outcome).toBe('aborted');
    expect(r.ms).toBeLessThan(500);
  });

  it('a client gone while the body is read: ClientAborted', async () => {
    const r = await readAfter(async () => undefined, partial);
    expect(r.outcome).toBe('aborted');
  });

  it('a whole body that arrived before it is asked for is still read', async () => {
    const r = await readAfter(() => new Promise((resolve) => setTimeout(resolve, 100)), whole);
    expect(r.outcome).toBe('body 2');
  });
});
