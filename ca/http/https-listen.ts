/**
 * The HTTPS listener of the enrollment API. Its private key stays in the HSM: Node's TLS signs the handshake through
 * OpenSSL's PKCS#11 engine (libp11, Debian package libengine-pkcs11-openssl) loaded by Node's bundled OpenSSL 3.0
 * (tls privateKeyEngine / privateKeyIdentifier), so the key is named by a PKCS#11 URI and never leaves the token.
 *
 * Three properties of the engine shape this file:
 *  - libp11 logs into the same token in this process (the PIN travels in the URI's pin-value, in memory only).
 *    C_Login answers "already logged in" because the pool is, and libp11 accepts that.
 *  - libp11 initialises once per process: a second engine loaded from its path fails ("init failed"). So the
 *    engine is loaded by id ('pkcs11') from OPENSSL_ENGINES, which puts it in OpenSSL's engine list, and every
 *    later context (each rotation) gets that same, already initialised engine.
 *  - When the engine is finished — when the last SecureContext holding it is garbage-collected — libp11 calls
 *    C_CloseAllSessions and C_Finalize on the module, which would close the signing pool's sessions too. So every
 *    SecureContext made here is kept for the life of the process (a rotation adds one every few weeks).
 *
 * Timeouts as for plain HTTP (listen.ts). A new identity (certificate rotation) applies to new connections at once;
 * open ones finish with the old one.
 */
import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { RequestListener } from 'node:http';
import { toPem } from '../x509/index.ts';
import type { ListenOptions } from './listen.ts';

export type ClientAuth = 'none' | 'optional' | 'require';

export interface TlsIdentity {
  certificateDer: Uint8Array;
  /** The issuer's certificate first, then its chain (sent so clients that only know the root can build the path). */
  chain: Uint8Array[];
  /** PKCS#11 URI of the private key, with pin-value: for the engine only, never logged. */
  keyUri: string;
}

export interface HttpsListenOptions extends ListenOptions {
  clientAuth: ClientAuth;
  /** Certificates client certificates must chain to: the issuers and their roots. */
  trusted: () => Uint8Array[];
  /** Path of the OpenSSL PKCS#11 engine (libp11). */
  engine: string;
  /** The PKCS#11 module the engine loads (exported to it as PKCS11_MODULE_PATH). */
  module: string;
}

export interface HttpsListening {
  server: Server;
  url: string;
  port: number;
  /** Serves new connections with this certificate and key from now on. */
  setIdentity(identity: TlsIdentity): void;
  close(graceMs?: number): Promise<void>;
}

/** Where Debian puts the engine for each architecture. */
const ENGINE_PATHS = ['/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so', '/usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so', '/usr/lib64/engines-3/pkcs11.so'];

export function defaultPkcs11Engine(): string | undefined {
  return ENGINE_PATHS.find((p) => existsSync(p));
}

/** pkcs11:token=…;id=%xx…;type=private;pin-value=… (RFC 7512), the key libp11 loads. */
export function engineKeyUri(token: { label?: string | undefined; serial?: string | undefined }, keyId: string, pin: string): string {
  const enc = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');
  const tokenAttr = token.serial !== undefined ? `serial=${enc(token.serial)}` : `token=${enc(token.label ?? '')}`;
  const id = keyId.replace(/(..)/g, '%$1');
  return `pkcs11:${tokenAttr};id=${id};type=private;pin-value=${enc(pin)}`;
}

/** Every context made here, kept so none is ever finished (see the file comment). */
const retained: unknown[] = [];

export async function listenHttps(handler: { callback(): RequestListener }, first: TlsIdentity, o: HttpsListenOptions): Promise<HttpsListening> {
  if (process.env.PKCS11_MODULE_PATH !== undefined && process.env.PKCS11_MODULE_PATH !== o.module) {
    throw new Error(`PKCS11_MODULE_PATH is ${process.env.PKCS11_MODULE_PATH}, not the configured module ${o.module}`);
  }
  // libp11 reads the module path from the environment when the engine initialises; OpenSSL looks engines up by id
  // in OPENSSL_ENGINES.
  const engineDir = dirname(o.engine);
  const engineId = basename(o.engine).replace(/\.so$/, '');
  if (process.env.OPENSSL_ENGINES !== undefined && process.env.OPENSSL_ENGINES !== engineDir) {
    throw new Error(`OPENSSL_ENGINES is ${process.env.OPENSSL_ENGINES}, not the directory of the configured engine ${o.engine}`);
  }
  process.env.PKCS11_MODULE_PATH = o.module;
  process.env.OPENSSL_ENGINES = engineDir;
  const contextOptions = (identity: TlsIdentity) => ({
    cert: [identity.certificateDer, ...identity.chain].map((d) => toPem(d, 'CERTIFICATE')).join(''),
    privateKeyEngine: engineId,
    privateKeyIdentifier: identity.keyUri,
    minVersion: 'TLSv1.2' as const,
    ...(o.clientAuth !== 'none' ? { ca: o.trusted().map((d) => toPem(d, 'CERTIFICATE')) } : {}),
  });
  const server = createServer(
    {
      ...contextOptions(first),
      requestCert: o.clientAuth !== 'none',
      rejectUnauthorized: o.clientAuth === 'require',
      headersTimeout: o.headersTimeoutMs,
      requestTimeout: Math.max(o.requestTimeoutMs, o.headersTimeoutMs),
      keepAliveTimeout: o.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(o.headersTimeoutMs / 4))),
      maxHeaderSize: 16 * 1024,
    },
    handler.callback(),
  );
  const keep = () => retained.push((server as unknown as { _sharedCreds?: unknown })._sharedCreds);
  keep();
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
    url: `https://${host}:${port}`,
    port,
    setIdentity(identity) {
      server.setSecureContext(contextOptions(identity));
      keep();
    },
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
