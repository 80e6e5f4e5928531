// Validity: the profile's maximum is a hard limit (400 bad_validity), the issuer's notAfter a clamp — a
// certificate never outlives its issuer; the answer shows the real dates. Documented in ca/issuance.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BACKDATE_MS } from '../../ca/issuance/certificate-template.ts';
import { buildCsr, cnName, extensionRequest, gn, pem, san } from '../csr/support.ts';
import { issue, startTestCa, type TestCa } from '../http/fixture.ts';

const DAY = 86_400_000;
const csr = () => pem(buildCsr({ keyPair: generateKeyPairSync('ec', { namedCurve: 'P-256' }), subject: cnName('v.svc.internal'), attributes: extensionRequest(san(gn.dns('v.svc.internal'))) }));
let t: TestCa;
let token: string;
const issuerNotAfter = new Date(Math.floor((Date.now() + 120 * DAY) / 1000) * 1000);

beforeAll(async () => {
  t = await startTestCa('validity', { notBefore: new Date(Date.now() - DAY), notAfter: issuerNotAfter });
  token = await t.client('v', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
});
afterAll(async () => t?.close());

const lifetime = (certPem: string) => {
  const c = new X509Certificate(certPem);
  return { from: new Date(c.validFrom), to: new Date(c.validTo) };
};

it('the default validity (90 days for tls-server) when none is asked for', async () => {
  const t0 = Date.now();
  const r = await issue(t, token, { csr: csr(), profile: 'tls-server' });
  expect(r.status).toBe(201);
  const { from, to } = lifetime(r.body.certificate);
  expect(Math.abs(from.getTime() - (t0 - BACKDATE_MS))).toBeLessThan(5000);
  expect(Math.round((to.getTime() - from.getTime() + 1000) / DAY)).toBe(90);
});

it("a validity within the profile's maximum but past the issuer's notAfter is clamped to the issuer's notAfter", async () => {
  const r = await issue(t, token, { csr: csr(), profile: 'tls-server', validityDays: 300 });
  expect(r.status).toBe(201);
  expect(lifetime(r.body.certificate).to).toEqual(issuerNotAfter);
});

it("beyond the profile's maximum → 400 bad_validity", async () => {
  const r = await issue(t, token, { csr: csr(), profile: 'tls-server', validityDays: 398 });
  expect(r.status).toBe(400);
  expect(r.body.error).toEqual({ code: 'bad_validity', message: expect.stringMatching(/maximum of 397/) });
});
