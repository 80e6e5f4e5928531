// Every shipped leaf profile end to end: a CSR made by openssl, issued over HTTP, verified by openssl against the
// CRL the server publishes — OK before revocation, "certificate revoked" once the next CRL is out.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toPem } from '../../ca/x509/index.ts';
import { call, issue, openssl, opensslCsr, PUBLIC_URL, startTestCa, type TestCa } from './fixture.ts';
import { crlNumberOf, revokedSerials, waitForCrl } from './crl-support.ts';

const PROFILES = [
  { profile: 'tls-server', subject: '/CN=web.svc.internal', san: 'DNS:web.svc.internal,IP:10.1.2.3', reason: 'keyCompromise' },
  { profile: 'tls-client', subject: '/CN=app.svc.internal', san: 'DNS:app.svc.internal,URI:spiffe://strongroom.internal/app', reason: 'superseded' },
  { profile: 'code-signing', subject: '/O=Ignored', san: 'URI:spiffe://strongroom.internal/build/ci,email:ci@strongroom.internal', reason: 'cessationOfOperation' },
  { profile: 'ocsp-signer', subject: '/CN=ocsp' },
  { profile: 'tsa', subject: '/CN=tsa', reason: 'affiliationChanged' },
] as const;

describe('every shipped leaf profile, verified by openssl with the served CRL', () => {
  let t: TestCa;
  let token: string;
  const issued = new Map<string, { serial: string; file: string }>();

  beforeAll(async () => {
    t = await startTestCa('profiles');
    token = await t.client('all-profiles', {
      profiles: PROFILES.map((p) => p.profile),
      names: { dns: ['*.svc.internal'], ip: ['10.0.0.0/8'], uri: ['spiffe://strongroom.internal/'], email: ['strongroom.internal'] },
    });
    await waitForCrl(t, 1n);
  });
  afterAll(async () => t?.close());

  const verify = (file: string, crlFile: string) => {
    try {
      return openssl(t.chain.dir, ['verify', '-crl_check', '-CAfile', t.chain.caFile, '-CRLfile', crlFile, file]);
    } catch (e) {
      return String((e as { stdout?: string }).stdout ?? '') + String((e as { stderr?: string }).stderr ?? '');
    }
  };

  const fetchCrl = async (name: string) => {
    const r = await call<Buffer>(`${t.url}/crl/issuing-ca.crl`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/pkix-crl');
    const file = join(t.chain.dir, name);
    writeFileSync(file, toPem(r.body, 'X509 CRL'));
    return { file, der: r.body };
  };

  it.each(PROFILES.map((p) => [p.profile, p] as const))('%s: issued, carries its profile, verifies with the CRL', async (_name, p) => {
    const csr = opensslCsr(t.chain.dir, p.profile, { subject: p.subject, ...('san' in p ? { san: p.san } : {}) });
    const r = await issue(t, token, { csr, profile: p.profile });
    expect(r.body.error).toBeUndefined();
    expect(r.status).toBe(201);
    expect(r.headers.get('location')).toBe(`/v1/certificates/${r.body.serial}`);
    expect(r.body.serial).toMatch(/^[1-9a-f][0-9a-f]{15,39}$/);
    expect(r.body.chain[0]).toBe(toPem(t.chain.issuingDer, 'CERTIFICATE'));
    const file = join(t.chain.dir, `${p.profile}.pem`);
    writeFileSync(file, r.body.certificate);
    issued.set(p.profile, { serial: r.body.serial, file });

    const text = openssl(t.chain.dir, ['x509', '-in', file, '-noout', '-text']);
    expect(text).toContain(`URI:${PUBLIC_URL}/crl/issuing-ca.crl`);
    expect(text).toContain(`CA Issuers - URI:${PUBLIC_URL}/ca/issuing-ca.crt`);
    expect(text).toContain(`OCSP - URI:${PUBLIC_URL}/ocsp`);
    expect(text).toMatch(/CA:FALSE/);
    const ekus = { 'tls-server': 'TLS Web Server Authentication', 'tls-client': 'TLS Web Client Authentication', 'code-signing': 'Code Signing', 'ocsp-signer': 'OCSP Signing', tsa: 'Time Stamping' };
    expect(text).toContain(ekus[p.profile]);
    if ('san' in p) expect(text).toContain('X509v3 Subject Alternative Name');
    else expect(text).not.toContain('X509v3 Subject Alternative Name');

    const crl = await fetchCrl(`crl-before-${p.profile}.pem`);
    expect(verify(file, crl.file)).toMatch(/: OK\s*$/);
  });

  it('after revocation the next CRL lists each certificate, and openssl says "certificate revoked"', async () => {
    const before = crlNumberOf((await fetchCrl('crl-0.pem')).der);
    for (const p of PROFILES) {
      if (!('reason' in p)) continue;
      const { serial } = issued.get(p.profile)!;
      const r = await call<Record<string, unknown>>(`${t.url}/v1/certificates/${serial}/revoke`, { method: 'POST', token, json: { reason: p.reason } });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ serial, status: 'revoked', revocation: { reason: p.reason } });
    }
    // Revocations debounce into CRLs: the first CRL after them may list only the earlier ones; wait for one that
    // lists them all.
    const revoked = PROFILES.filter((p) => 'reason' in p).map((p) => issued.get(p.profile)!.serial);
    let next = before + 1n;
    for (const deadline = performance.now() + 15_000; ; next++) {
      const der = await waitForCrl(t, next);
      if (revoked.every((s) => revokedSerials(der).includes(s))) break;
      expect(performance.now()).toBeLessThan(deadline);
    }
    const crl = await fetchCrl('crl-after.pem');
    const crlText = openssl(t.chain.dir, ['crl', '-in', crl.file, '-noout', '-text']);
    const listed = revokedSerials(crl.der);
    for (const p of PROFILES) {
      const { serial, file } = issued.get(p.profile)!;
      if ('reason' in p) {
        expect(verify(file, crl.file)).toMatch(/certificate revoked/);
        expect(listed).toContain(serial);
      } else {
        expect(verify(file, crl.file)).toMatch(/: OK\s*$/);
        expect(listed).not.toContain(serial);
      }
    }
    expect(crlText).toMatch(/Key Compromise/);
    expect(crlText).toMatch(/Superseded/);

    // The status endpoint says the same.
    const s = await call<Record<string, unknown>>(`${t.url}/v1/certificates/${issued.get('tls-server')!.serial}`, { token });
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ status: 'revoked', revocation: { reason: 'keyCompromise' }, profile: 'tls-server', ca: 'issuing-ca' });
  });

  it('a key revoked for keyCompromise is never certified again', async () => {
    openssl(t.chain.dir, ['req', '-new', '-key', 'tls-server.key', '-subj', '/CN=other.svc.internal', '-addext', 'subjectAltName=DNS:other.svc.internal', '-out', 'again.csr']);
    const csr = openssl(t.chain.dir, ['req', '-in', 'again.csr']);
    const before = await t.counters();
    const r = await issue(t, token, { csr, profile: 'tls-server' });
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({ code: 'weak_key', message: expect.stringMatching(/keyCompromise/) });
    expect(await t.counters()).toEqual(before);
  });
});
