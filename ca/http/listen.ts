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
    server.listen(o.port, o.host, () => {
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
