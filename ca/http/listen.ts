/**
 * The Node HTTP server around the app, with the timeouts that keep slow clients from holding connections: the
 * headers must arrive within headersTimeoutMs and the whole request within requestTimeoutMs (Node answers 408 and
 * closes the socket), idle keep-alive connections close after keepAliveTimeoutMs.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ListenOptions {
  host: string;
  port: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

export interface Listening {
  server: Server;
  url: string;
  port: number;
  /** Stops accepting, lets requests in progress finish for up to graceMs, then drops what is left. */
  close(graceMs?: number): Promise<void>;
}

export async function listen(app: { callback(): RequestListener }, o: ListenOptions): Promise<Listening> {
  const server = createServer(
    {
      headersTimeout: o.headersTimeoutMs,
      requestTimeout: Math.max(o.requestTimeoutMs, o.headersTimeoutMs),
      keepAliveTimeout: o.keepAliveTimeoutMs,
      // How often Node looks for connections past those timeouts (default 30 s: far too coarse for them).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(o.headersTimeoutMs / 4))),
      maxHeaderSize: 16 * 1024,
    },
    app.callback(),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Under overload the event loop accepts a connection per turn (libuv ≥ 1.45 calls accept() once per readiness
    // notification: libuv/libuv#3696); Node's default backlog (511) then fills and the kernel drops SYNs, which
    // clients retry after 1, 3, 7… s — requests that get no answer at all for half a minute (bench:soak). A deeper
    // queue (capped by net.core.somaxconn) keeps them waiting for a 503 instead.
    server.listen({ port: o.port, host: o.host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    server,
    url: `http://${host}:${port}`,
    port,
    close: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
