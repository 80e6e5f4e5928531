// 200 issuances at once over HTTP: 200 distinct serials, every returned certificate is the one in the database,
// each has its audit entry, and the audit chain verifies.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifyAudit } from '../../ca/audit/index.ts';
import { fromPem, toPem } from '../../ca/x509/index.ts';
import { buildCsr, cnName, extensionRequest, gn, pem, san } from '../csr/support.ts';
import { issue, startTestCa, type TestCa } from '../http/fixture.ts';

const N = 200;
let t: TestCa;
let token: string;

beforeAll(async () => {
  t = await startTestCa('parallel');
  token = await t.client('load', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
});
afterAll(async () => t?.close());

it(`${N} parallel issuances → ${N} distinct serials, all in the database, audit chain intact`, { timeout: 120_000 }, async () => {
  const csrs = Array.from({ length: N }, (_, i) => pem(buildCsr({ keyPair: generateKeyPairSync('ec', { namedCurve: 'P-256' }), subject: cnName(`h${i}.svc.internal`), attributes: extensionRequest(san(gn.dns(`h${i}.svc.internal`))) })));
  const t0 = performance.now();
  const answers = await Promise.all(csrs.map((csr) => issue(t, token, { csr, profile: 'tls-server' })));
  const seconds = (performance.now() - t0) / 1000;
  console.log(`${N} issuances in ${seconds.toFixed(1)} s (${(N / seconds).toFixed(0)}/s)`);
  expect(answers.map((a) => a.status)).toEqual(new Array(N).fill(201));
  const serials = answers.map((a) => a.body.serial);
  expect(new Set(serials).size).toBe(N);

  // The clients' certificates (the CA's own OCSP responder certificate, issued at start, has no client).
  const rows = (await t.db.knex('certificates').whereNotNull('client_id').select('serial', 'status', 'certificate_der')) as { serial: string; status: string; certificate_der: Uint8Array }[];
  expect(rows).toHaveLength(N);
  const bySerial = new Map(rows.map((r) => [r.serial, r]));
  for (const a of answers) {
    const row = bySerial.get(a.body.serial)!;
    expect(row.status).toBe('issued');
    expect(toPem(new Uint8Array(row.certificate_der), 'CERTIFICATE')).toBe(a.body.certificate);
    expect(fromPem(a.body.certificate, 'CERTIFICATE').length).toBeGreaterThan(300);
  }
  const issuedEntries = (await t.db.knex('audit_log').where({ action: 'certificate.issue', actor: 'load' }).select('subject')) as { subject: string }[];
  expect(new Set(issuedEntries.map((e) => e.subject))).toEqual(new Set(serials));
  const report = await verifyAudit(t.db.knex);
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
});
