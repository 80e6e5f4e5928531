/**
 * The enrollment API over HTTPS (config.https): a server certificate the CA issues to itself ('https' service
 * certificate, tls-server profile, SANs = config.https.names) for a key generated in the online HSM, and served
 * from there through OpenSSL's PKCS#11 engine (ca/http/https-listen.ts). Rotations swap the identity in place. If
 * the certificate cannot be had at start (HSM down), start-up goes on without HTTPS and the listener opens when the
 * renewal timer obtains it.
 */
import type { RequestListener } from 'node:http';
import { defaultPkcs11Engine, engineKeyUri, listenHttps, type HttpsListening, type TlsIdentity } from '../http/https-listen.ts';
import type { IssuerRegistry } from '../issuance/issuer-registry.ts';
import type { ServiceCertificate, ServiceCertificates, ServiceLogger } from '../service-certs/service-certificates.ts';
import type { CaServerConfig } from './config.ts';

export interface HttpsEndpointDeps {
  app: { callback(): RequestListener };
  config: CaServerConfig;
  https: NonNullable<CaServerConfig['https']>;
  pin: string;
  serviceCertificates: ServiceCertificates;
  issuers: Pick<IssuerRegistry, 'all'>;
  logger: ServiceLogger;
}

export class HttpsEndpoint {
  private listening: HttpsListening | undefined;
  private opening: Promise<void> | undefined;
  private closed = false;
  private readonly engine: string;

  constructor(private readonly d: HttpsEndpointDeps) {
    const engine = d.https.engine ?? defaultPkcs11Engine();
    // A configuration problem, named at start: without the engine the key could not stay in the HSM.
    if (!engine) throw new Error('https: the OpenSSL PKCS#11 engine (Debian package libengine-pkcs11-openssl) is not installed; set https.engine to its path');
    this.engine = engine;
  }

  get current(): HttpsListening | undefined {
    return this.listening;
  }

  async start(): Promise<void> {
    this.d.serviceCertificates.onRotated((e) => {
      if (e.purpose !== 'https' || this.closed) return;
      if (this.listening) this.listening.setIdentity(this.identity(e.current));
      else void this.open(e.current).catch(() => undefined); // logged in open()
    });
    try {
      await this.d.serviceCertificates.ensure('https');
      await this.opening;
    } catch (err) {
      this.d.logger.error({ err }, 'HTTPS is not serving yet: it opens when the renewal timer obtains its certificate');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.opening?.catch(() => undefined);
    await this.listening?.close();
  }

  private open(cert: ServiceCertificate): Promise<void> {
    this.opening ??= (async () => {
      const h = this.d.https;
      const http = this.d.config.http;
      this.listening = await listenHttps(this.d.app, this.identity(cert), {
        host: h.host,
        port: h.port,
        headersTimeoutMs: http.headersTimeoutMs,
        requestTimeoutMs: http.requestTimeoutMs,
        keepAliveTimeoutMs: http.keepAliveTimeoutMs,
        clientAuth: h.clientAuth,
        trusted: () => this.d.issuers.all().flatMap((i) => [i.row.certificateDer, ...i.chain]),
        engine: this.engine,
        module: this.d.config.hsm.module,
      });
      this.d.logger.info({ url: this.listening.url, clientAuth: h.clientAuth, names: h.names }, 'serving the enrollment API over HTTPS');
    })().catch((err: unknown) => {
      this.opening = undefined;
      this.d.logger.error({ err }, 'the HTTPS listener could not start');
      throw err;
    });
    return this.opening;
  }

  private identity(cert: ServiceCertificate): TlsIdentity {
    return { certificateDer: cert.certificateDer, chain: cert.chain, keyUri: engineKeyUri(this.d.config.hsm.token, cert.keyId, this.d.pin) };
  }
}
