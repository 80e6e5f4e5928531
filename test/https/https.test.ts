// The enrollment API over HTTPS with real TLS: a server certificate the CA issued to itself for a key in the HSM
// (TLS signs through OpenSSL's PKCS#11 engine), checked by Node's TLS and `openssl s_client -verify_return_error`;
// plain HTTP keeps CRLs and CA certificates and refuses the API; a bound client certificate authenticates like a
// bearer token (unbound, revoked or absent: 401); a rotation swaps the certificate for new connections while the
// signing pool keeps working; clientAuth 'require' refuses a handshake without a certificate.
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCommand } from '../../ca/cli/client-command.ts';
import { ClientCertificateStore } from '../../ca/db/client-certificate-store.ts';
import { defaultPkcs11Engine, engineKeyUri, listenHttps } from '../../ca/http/https-listen.ts';
import { fromPem, toPem } from '../../ca/x509/index.ts';
import { Pkcs11KeyStore } from '../../hsm/index.ts';
import { call, opensslCsr, startTestCa, type TestCa } from '../http/fixture.ts';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

let t: TestCa;
let now = Date.now();
const clock = () => new Date(now);
let token: string;
let clientId: number;
let httpsUrl: URL;
let rootPem: string;

function httpsCall(method: string, path: string, opts: { token?: string; cert?: string; key?: string; json?: unknown; unverified?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
    const req = request(
      {
        host: '127.0.0.1',
        port: httpsUrl.port,
        servername: 'localhost',
        method,
        path,
        ca: rootPem,
        ...(opts.unverified ? { rejectUnauthorized: false } : {}),
        agent: false,
        ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
        headers: { ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The certificate the server presents to a new connection, DER. */
function presented(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Not verified here (the test clock is ahead of the real one): only which certificate is served.
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const raw = s.getPeerCertificate(false).raw;
      s.end();
      resolve(raw);
    });
    s.on('error', reject);
  });
}

beforeAll(async () => {
  t = await startTestCa('https', { clock, config: { https: { port: 0, names: ['localhost', '127.0.0.1'], clientAuth: 'optional' } } });
  httpsUrl = new URL(t.ca.https()!.url);
  rootPem = toPem(t.chain.rootDer, 'CERTIFICATE');
  token = await t.client('bot', { profiles: ['tls-server', 'tls-client'], names: { dns: ['*.dev.internal'] } });
  clientId = (await t.ca.clients.list()).find((c) => c.name === 'bot')!.id;
});
afterAll(async () => t?.close());

describe('HTTPS with the key in the HSM', () => {
  it('serves the API over HTTPS with the CA-issued server certificate', async () => {
    const csr = opensslCsr(t.chain.dir, 'srv', { subject: '/CN=a.dev.internal', san: 'DNS:a.dev.internal' });
    const r = await httpsCall('POST', '/v1/certificates', { token, json: { csr, profile: 'tls-server' } });
    expect(r.status).toBe(201);
    const svc = (await t.ca.serviceCertificates.current('https'))!;
    expect(Buffer.from(svc.certificateDer).equals(await presented(Number(httpsUrl.port)))).toBe(true);
  });

  it('openssl s_client -verify_return_error verifies the chain and the name; the key is a sensitive, non-extractable HSM key', async () => {
    // Asynchronously: the server answering the handshake runs in this process.
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${httpsUrl.port}`, '-servername', 'localhost', '-verify_hostname', 'localhost', '-CAfile', t.chain.caFile, '-verify_return_error', '-brief'], { timeout: 20_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      );
      child.stdin!.end();
    });
    expect(r.out).toMatch(/Verification: OK/);
    expect(r.out).toMatch(/Signature type: ECDSA/);
    expect(r.code).toBe(0);
    const svc = (await t.ca.serviceCertificates.current('https'))!;
    const ks = Pkcs11KeyStore.open({ module: t.chain.token.module, token: { label: t.chain.token.label }, pin: t.chain.token.pin });
    try {
      const key = ks.list().find((k) => k.id === svc.keyId)!;
      expect(key.spkiSha256).toBe(svc.spkiSha256);
      expect(key.protection).toMatchObject({ sensitive: true, extractable: false, neverExtractable: true, local: true });
    } finally {
      ks.close();
    }
    const text = spawnSync('openssl', ['x509', '-noout', '-text'], { input: toPem(svc.certificateDer, 'CERTIFICATE'), encoding: 'utf8' }).stdout;
    expect(text).toContain('DNS:localhost');
    expect(text).toContain('IP Address:127.0.0.1');
    expect(text).toContain('TLS Web Server Authentication');
  });

  it('plain HTTP keeps CRLs and CA certificates and refuses the API', async () => {
    expect((await call(`${t.url}/ca/issuing-ca.crt`)).status).toBe(200);
    expect((await call(`${t.url}/healthz`)).status).toBe(200);
    const r = await call<{ error: { code: string } }>(`${t.url}/v1/certificates`, { method: 'POST', token, json: {} });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('forbidden');
  });
});

describe('client certificates', () => {
  let certPem: string;
  let keyPem: string;
  let serial: string;

  beforeAll(async () => {
    const csr = opensslCsr(t.chain.dir, 'bot', { subject: '/CN=bot.dev.internal', san: 'DNS:bot.dev.internal' });
    const r = await httpsCall('POST', '/v1/certificates', { token, json: { csr, profile: 'tls-client' } });
    expect(r.status).toBe(201);
    certPem = r.body.certificate as string;
    serial = r.body.serial as string;
    keyPem = readFileSync(join(t.chain.dir, 'bot.key'), 'utf8');
  });

  it('an unbound certificate authenticates nobody; no certificate and no token → 401', async () => {
    expect((await httpsCall('GET', `/v1/certificates/${serial}`, { cert: certPem, key: keyPem })).status).toBe(401);
    expect((await httpsCall('GET', `/v1/certificates/${serial}`)).status).toBe(401);
  });

  it('a bound certificate authenticates like the bearer token; a bearer token, when sent, decides', async () => {
    const caId = t.ca.issuers.active()!.row.id;
    await new ClientCertificateStore(t.db.knex).bind(clientId, caId, serial, 'test');
    const r = await httpsCall('GET', `/v1/certificates/${serial}`, { cert: certPem, key: keyPem });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ serial, status: 'issued' });
    expect((await httpsCall('GET', `/v1/certificates/${serial}`, { cert: certPem, key: keyPem, token: 'sr_not-a-token' })).status).toBe(401);
    // A tls-server certificate is not a client credential.
    await expect(new ClientCertificateStore(t.db.knex).bind(clientId, caId, (await t.db.knex('certificates').where({ profile: 'tls-server', client_id: clientId }).first('serial')).serial as string, 'test')).rejects.toThrow(/tls-client/);
  });

  it('once revoked, the certificate authenticates nobody', async () => {
    const r = await httpsCall('POST', `/v1/certificates/${serial}/revoke`, { cert: certPem, key: keyPem, json: { reason: 'superseded' } });
    expect(r.status).toBe(200);
    expect((await httpsCall('GET', `/v1/certificates/${serial}`, { cert: certPem, key: keyPem })).status).toBe(401);
    expect((await httpsCall('GET', `/v1/certificates/${serial}`, { token })).status).toBe(200);
  });
});

describe('strongroom client bind-cert', () => {
  // The CLI opens the database from DATABASE_URL: the test's own PostgreSQL database (PGlite allows one process).
  it.skipIf(!process.env.DATABASE_URL)('binds an issued tls-client certificate (audited), which then authenticates; refuses what it must', async () => {
    const csr = opensslCsr(t.chain.dir, 'bot2', { subject: '/CN=bot2.dev.internal', san: 'DNS:bot2.dev.internal' });
    const r = await httpsCall('POST', '/v1/certificates', { token, json: { csr, profile: 'tls-client' } });
    const cert = { cert: r.body.certificate as string, key: readFileSync(join(t.chain.dir, 'bot2.key'), 'utf8') };
    const serial = r.body.serial as string;
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = t.db.url;
    try {
      const out: string[] = [];
      expect(await clientCommand(['bind-cert', 'bot', '--serial', serial.toUpperCase()], (l) => out.push(l))).toBe(0);
      expect(out.join('\n')).toContain(`certificate ${serial} now authenticates client "bot"`);
      await expect(clientCommand(['bind-cert', 'bot', '--serial', serial], () => undefined)).rejects.toThrow(/bound to a client already/);
      await expect(clientCommand(['bind-cert', 'nobody', '--serial', serial], () => undefined)).rejects.toThrow(/no client "nobody"/);
      await expect(clientCommand(['bind-cert', 'bot', '--serial', 'abc123'], () => undefined)).rejects.toThrow(/no such certificate/);
    } finally {
      process.env.DATABASE_URL = saved;
    }
    const entry = (await t.db.knex('audit_log').where({ action: 'client.certificate.bind' }).first()) as { subject: string; details: { serial: string } };
    expect(entry).toMatchObject({ subject: 'bot', details: { serial } });
    expect((await httpsCall('GET', `/v1/certificates/${serial}`, cert)).status).toBe(200);
  });
});

describe('rotation', () => {
  it('past the renewal point: new connections get the new certificate; after old contexts are collected the pool and TLS still work', async () => {
    const old = (await t.ca.serviceCertificates.current('https'))!;
    now = old.notBefore.getTime() + 0.7 * (old.notAfter.getTime() - old.notBefore.getTime());
    const next = await t.ca.serviceCertificates.ensure('https');
    expect(next.id).not.toBe(old.id);
    expect(Buffer.from(next.certificateDer).equals(await presented(Number(httpsUrl.port)))).toBe(true);
    // A collected SecureContext would finish libp11's engine, which finalizes the PKCS#11 module: it must not happen.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    for (let i = 0; i < 3; i++) gc();
    await new Promise((r) => setTimeout(r, 200));
    const csr = opensslCsr(t.chain.dir, 'after', { subject: '/CN=b.dev.internal', san: 'DNS:b.dev.internal' });
    // Unverified: the new certificate starts at the test clock, ahead of the real one.
    expect((await httpsCall('POST', '/v1/certificates', { token, unverified: true, json: { csr, profile: 'tls-server' } })).status).toBe(201);
    expect(Buffer.from(next.certificateDer).equals(await presented(Number(httpsUrl.port)))).toBe(true);
    expect(fromPem(toPem(next.certificateDer, 'CERTIFICATE'), 'CERTIFICATE').length).toBe(next.certificateDer.length);
  });
});

describe("clientAuth 'require'", () => {
  it('refuses a handshake without a client certificate', async () => {
    // A second listener on the same token and key (one token per process: libp11 enumerates slots once).
    const svc = (await t.ca.serviceCertificates.current('https'))!;
    const strict = await listenHttps(t.ca.app, { certificateDer: svc.certificateDer, chain: svc.chain, keyUri: engineKeyUri({ label: t.chain.token.label }, svc.keyId, t.chain.token.pin) }, {
      host: '127.0.0.1',
      port: 0,
      headersTimeoutMs: 5000,
      requestTimeoutMs: 5000,
      keepAliveTimeoutMs: 1000,
      clientAuth: 'require',
      trusted: () => [t.chain.issuingDer, t.chain.rootDer],
      engine: defaultPkcs11Engine()!,
      module: t.chain.token.module,
    });
    try {
      const outcome = await new Promise<string>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: strict.port, servername: 'localhost', rejectUnauthorized: false }, () => {
          // TLS 1.3: the server's refusal arrives after the client's side of the handshake completes; ask to see it.
          s.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
        });
        s.on('data', () => resolve('answered'));
        s.on('error', (e) => resolve(`error: ${e.message}`));
        s.on('close', () => resolve('closed'));
      });
      expect(outcome).toMatch(/certificate required|closed|error/);
      expect(outcome).not.toBe('answered');
    } finally {
      await strict.close();
    }
  });
});
