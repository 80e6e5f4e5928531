// The enrollment API beyond the bad-input tables: idempotency, who may read and revoke what, the publication
// endpoints' headers, health, readiness and metrics.
import { generateKeyPairSync } from 'node:crypto';
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCsr, cnName, extensionRequest, gn, pem, san } from '../csr/support.ts';
import { call, issue, type IssueAnswer, startTestCa, type TestCa } from './fixture.ts';
import { crlNumberOf, revokedSerials, waitForCrl } from './crl-support.ts';

const freshCsr = (dns = 'a.svc.internal') => pem(buildCsr({ keyPair: generateKeyPairSync('ec', { namedCurve: 'P-256' }), subject: cnName(dns), attributes: extensionRequest(san(gn.dns(dns))) }));

type View = { serial: string; status: string; revocation: { reason: string; revokedAt: string } | null; certificate: string | null; ca: string; profile: string; sans: string[] };

describe('the enrollment API', () => {
  let t: TestCa;
  let alice: string;
  let bob: string;
  let admin: string;

  beforeAll(async () => {
    t = await startTestCa('api');
    const grants = { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } };
    alice = await t.client('alice', grants);
    bob = await t.client('bob', grants);
    admin = await t.client('admin', { ...grants, admin: true });
    await waitForCrl(t, 1n);
  });
  afterAll(async () => t?.close());

  describe('Idempotency-Key', () => {
    it('the same key and CSR answer the same certificate (200); another CSR or profile under the key → 409', async () => {
      const csr = freshCsr();
      const first = await issue(t, alice, { csr, profile: 'tls-server' }, { 'Idempotency-Key': 'deploy-42' });
      expect(first.status).toBe(201);
      const again = await issue(t, alice, { csr, profile: 'tls-server' }, { 'Idempotency-Key': 'deploy-42' });
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);

      const before = await t.counters();
      const other = await issue(t, alice, { csr: freshCsr(), profile: 'tls-server' }, { 'Idempotency-Key': 'deploy-42' });
      expect(other.status).toBe(409);
      expect(other.body.error!.code).toBe('idempotency_conflict');
      expect(await t.counters()).toEqual(before);

      // Keys are per client: bob's deploy-42 is his own.
      const bobs = await issue(t, bob, { csr, profile: 'tls-server' }, { 'Idempotency-Key': 'deploy-42' });
      expect(bobs.status).toBe(201);
      expect(bobs.body.serial).not.toBe(first.body.serial);
    });

    it('two concurrent requests with one key make one certificate', async () => {
      const csr = freshCsr();
      const answers = await Promise.all([1, 2, 3].map(() => issue(t, alice, { csr, profile: 'tls-server' }, { 'Idempotency-Key': 'race' })));
      const ok = answers.filter((a) => a.status === 201 || a.status === 200);
      expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
      expect(answers.every((a) => [200, 201, 409].includes(a.status))).toBe(true);
      expect(new Set(ok.map((a) => a.body.serial)).size).toBe(1);
      const rows = await t.db.knex('certificates').where({ idempotency_key: 'race' });
      expect(rows).toHaveLength(1);
    });
  });

  describe('reading and revoking', () => {
    let mine: IssueAnswer;
    beforeAll(async () => {
      mine = (await issue(t, alice, { csr: freshCsr('read.svc.internal'), profile: 'tls-server' })).body;
    });

    it('GET: the owner and admins see a certificate; other clients get 404, as for a serial that does not exist', async () => {
      const own = await call<View>(`${t.url}/v1/certificates/${mine.serial}`, { token: alice });
      expect(own.status).toBe(200);
      expect(own.headers.get('cache-control')).toBe('no-store');
      expect(own.body).toMatchObject({ serial: mine.serial, status: 'issued', revocation: null, ca: 'issuing-ca', profile: 'tls-server', sans: ['dns:read.svc.internal'], certificate: mine.certificate });
      expect((await call(`${t.url}/v1/certificates/${mine.serial}`, { token: admin })).status).toBe(200);
      // Leading zeros and upper case name the same serial.
      expect((await call(`${t.url}/v1/certificates/00${mine.serial.toUpperCase()}`, { token: alice })).status).toBe(200);
      const others = await call(`${t.url}/v1/certificates/${mine.serial}`, { token: bob });
      const unknown = await call(`${t.url}/v1/certificates/1234567890abcdef`, { token: bob });
      expect(others.status).toBe(404);
      expect(others.body).toEqual(unknown.body);
      expect((await call(`${t.url}/v1/certificates/not-hex`, { token: alice })).status).toBe(400);
    });

    it('POST revoke: reasons are RFC 5280 names; certificateHold is refused, cACompromise is for admins', async () => {
      const url = `${t.url}/v1/certificates/${mine.serial}/revoke`;
      const before = await t.counters();
      expect((await call(url, { method: 'POST', token: bob, json: { reason: 'superseded' } })).status).toBe(404);
      const hold = await call<{ error: { code: string } }>(url, { method: 'POST', token: alice, json: { reason: 'certificateHold' } });
      expect([hold.status, hold.body.error.code]).toEqual([400, 'bad_request']);
      const ca = await call<{ error: { code: string } }>(url, { method: 'POST', token: alice, json: { reason: 'cACompromise' } });
      expect([ca.status, ca.body.error.code]).toEqual([403, 'forbidden']);
      expect((await call(url, { method: 'POST', token: alice, json: { reason: 'stolen' } })).status).toBe(400);
      expect((await call(url, { method: 'POST', token: alice, json: { reason: 'superseded', extra: 1 } })).status).toBe(400);
      expect((await call(url, { method: 'POST', token: alice })).status).toBe(400);
      expect(await t.counters()).toEqual(before);
      expect((await call<View>(`${t.url}/v1/certificates/${mine.serial}`, { token: alice })).body.status).toBe('issued');

      const crlBefore = crlNumberOf(await waitForCrl(t, 1n));
      const r = await call<View>(url, { method: 'POST', token: alice, json: { reason: 'superseded' } });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ status: 'revoked', revocation: { reason: 'superseded' } });
      // Again: the first revocation stands.
      const again = await call<View>(url, { method: 'POST', token: admin, json: { reason: 'keyCompromise' } });
      expect(again.status).toBe(200);
      expect(again.body.revocation).toEqual(r.body.revocation);
      const crl = await waitForCrl(t, crlBefore + 1n);
      expect(revokedSerials(crl)).toContain(mine.serial);
    });

    it("an admin may revoke another client's certificate, also for cACompromise", async () => {
      const bobs = (await issue(t, bob, { csr: freshCsr(), profile: 'tls-server' })).body;
      const r = await call<View>(`${t.url}/v1/certificates/${bobs.serial}/revoke`, { method: 'POST', token: admin, json: { reason: 'cACompromise' } });
      expect(r.status).toBe(200);
      expect(r.body.revocation!.reason).toBe('cACompromise');
      const audit = await t.db.knex('audit_log').where({ action: 'certificate.revoke', subject: bobs.serial }).first();
      expect(audit).toMatchObject({ actor: 'admin', details: { reason: 'cACompromise', ca: 'issuing-ca', previousStatus: 'issued' } });
    });
  });

  describe('publication endpoints', () => {
    it('GET /ca/NAME.crt is the issuing CA certificate, DER', async () => {
      const r = await call<Buffer>(`${t.url}/ca/issuing-ca.crt`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/pkix-cert');
      expect(new Uint8Array(r.body)).toEqual(t.chain.issuingDer);
    });

    it('GET /crl/NAME.crl: DER, cacheable until at most nextUpdate, conditional requests', async () => {
      const r = await call<Buffer>(`${t.url}/crl/issuing-ca.crl`);
      expect(r.status).toBe(200);
      const maxAge = Number(/max-age=(\d+)/.exec(r.headers.get('cache-control')!)![1]);
      expect(maxAge).toBeGreaterThan(0);
      expect(maxAge).toBeLessThanOrEqual(300);
      const etag = r.headers.get('etag')!;
      expect(etag).toBe(`"1-${crlNumberOf(r.body)}"`);
      // node:http, not fetch: fetch turns a conditional request into a no-cache one.
      const conditional = await new Promise<number>((resolve, reject) =>
        get(`${t.url}/crl/issuing-ca.crl`, { headers: { 'If-None-Match': etag } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        }).on('error', reject),
      );
      expect(conditional).toBe(304);
      const head = await fetch(`${t.url}/crl/issuing-ca.crl`, { method: 'HEAD' });
      expect(head.status).toBe(200);
    });
  });

  describe('operations', () => {
    it('/healthz and /readyz are green; /metrics has the pool, issuance, CRL and revocation metrics', async () => {
      expect((await call(`${t.url}/healthz`)).status).toBe(200);
      const ready = await call(`${t.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ ready: true, hsm: { ready: true, serving: 'primary' }, database: 'ok' });
      const m = await call<Buffer>(`${t.url}/metrics`);
      expect(m.status).toBe(200);
      const text = m.body.toString('utf8');
      expect(text).toMatch(/strongroom_issuance_requests_total\{profile="tls-server",outcome="issued"\} \d+/);
      expect(text).toMatch(/strongroom_issuance_requests_total\{profile="tls-server",outcome="idempotency_conflict"\} [1-9]/);
      expect(text).toMatch(/strongroom_crl_number\{ca="issuing-ca"\} [1-9]/);
      expect(text).toMatch(/strongroom_revocation_to_crl_seconds_count [1-9]/);
      expect(text).toMatch(/strongroom_hsm_operation_seconds_count\{token="primary",operation="sign",key="issuing-ca",outcome="ok"\} [1-9]/);
      expect(text).toMatch(/strongroom_http_request_seconds_count\{method="POST",route="\/v1\/certificates",status="201"\} [1-9]/);
    });
  });
});
