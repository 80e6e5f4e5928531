// CRL publication: debounced after revocations, scheduled before nextUpdate, numbers that only increase (also
// with two publishers), a failed signing that leaves the previous CRL published and consumes no number, and
// issuer rollover — the superseded issuer keeps publishing for what it issued.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../ca/audit/index.ts';
import { CertificateStore } from '../../ca/db/certificate-store.ts';
import { CrlStore } from '../../ca/db/crl-store.ts';
import { CrlService } from '../../ca/revocation/crl-service.ts';
import { HsmUnavailable } from '../../hsm/index.ts';
import { buildCsr, cnName, extensionRequest, gn, pem, san } from '../csr/support.ts';
import { call, importIssuer, issue, nextIssuer, startTestCa, type TestCa } from '../http/fixture.ts';
import { crlNumberOf, revokedSerials, waitForCrl } from '../http/crl-support.ts';

const DAY = 86_400_000;
const csr = () => pem(buildCsr({ keyPair: generateKeyPairSync('ec', { namedCurve: 'P-256' }), subject: cnName('c.svc.internal'), attributes: extensionRequest(san(gn.dns('c.svc.internal'))) }));
const numbers = async (t: TestCa, caId = 1) => ((await t.db.knex('crls').where({ ca_id: caId }).orderBy('crl_number').select('crl_number')) as { crl_number: string | number }[]).map((r) => Number(r.crl_number));

describe('CRLs', () => {
  let t: TestCa;
  let token: string;
  let offset = 0;
  const revoke = (serial: string, reason = 'superseded') => call(`${t.url}/v1/certificates/${serial}/revoke`, { method: 'POST', token, json: { reason } });

  beforeAll(async () => {
    t = await startTestCa('crl', { extraKeys: ['issuing-ca-2'], clock: () => new Date(Date.now() + offset), config: { crl: { debounceMs: 500, validitySeconds: 4 * 86_400 } } });
    token = await t.client('crl-bot', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
    await waitForCrl(t, 1n);
  });
  afterAll(async () => t?.close());

  it('the first CRL is published at start: v2, nextUpdate as configured, no entries', async () => {
    const row = (await new CrlStore(t.db.knex).latest(1))!;
    expect(row.crlNumber).toBe(1n);
    expect(row.nextUpdate.getTime() - row.thisUpdate.getTime()).toBe(4 * DAY);
    expect(revokedSerials(row.der)).toEqual([]);
    const audit = await t.db.knex('audit_log').where({ action: 'crl.publish' }).first();
    expect(audit).toMatchObject({ actor: 'system', subject: 'issuing-ca', details: { crlNumber: '1', revoked: 0 } });
  });

  it('a burst of revocations makes one CRL within the debounce time, listing them all; the latency is measured', async () => {
    const serials: string[] = [];
    for (let i = 0; i < 5; i++) serials.push((await issue(t, token, { csr: csr(), profile: 'tls-server' })).body.serial);
    const t0 = performance.now();
    for (const s of serials) expect((await revoke(s)).status).toBe(200);
    const crl = await waitForCrl(t, 2n);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(revokedSerials(crl).sort()).toEqual([...serials].sort());
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(await numbers(t)).toEqual([1, 2]);
    const metrics = (await call<Buffer>(`${t.url}/metrics`)).body.toString();
    expect(metrics).toMatch(/strongroom_revocation_to_crl_seconds_count 5\n/);
  });

  it('a failed signing leaves the previous CRL published and consumes no number; the retry takes the next one', async () => {
    const [serial] = [(await issue(t, token, { csr: csr(), profile: 'tls-server' })).body.serial];
    let failures = 0;
    t.pool.before = (req) => {
      if (req.priority === 'high') {
        failures++;
        throw new HsmUnavailable('token removed (test)');
      }
    };
    expect((await revoke(serial!)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // debounce 500 ms, then a retry after 500 ms
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(await numbers(t)).toEqual([1, 2]);
    const served = (await call<Buffer>(`${t.url}/crl/issuing-ca.crl`)).body;
    expect(crlNumberOf(served)).toBe(2n);
    expect(revokedSerials(served)).not.toContain(serial);
    t.pool.before = undefined;
    const crl = await waitForCrl(t, 3n);
    expect(revokedSerials(crl)).toContain(serial);
    expect(await numbers(t)).toEqual([1, 2, 3]);
    expect((await call<Buffer>(`${t.url}/metrics`)).body.toString()).toMatch(/strongroom_crl_publish_failures_total\{ca="issuing-ca"\} [1-9]/);
  });

  it('two publishers at once (another instance) take distinct, increasing numbers', async () => {
    const other = new CrlService({ certificates: new CertificateStore(t.db.knex), crls: new CrlStore(t.db.knex), audit: t.ca.audit, clock: () => new Date(), validitySeconds: 4 * 86_400 });
    const issuer = t.ca.issuers.byName('issuing-ca')!;
    const rows = await Promise.all([other.publish(issuer), t.ca.crl.publish(issuer), other.publish(issuer), t.ca.crl.publish(issuer)]);
    expect(rows.map((r) => Number(r.crlNumber)).sort()).toEqual([4, 5, 6, 7]);
    expect(await numbers(t)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('a CRL past half its validity is replaced by the scheduled check; a fresh one is not', async () => {
    await t.ca.scheduler.check();
    expect((await numbers(t)).at(-1)).toBe(7);
    offset = 2.1 * DAY;
    await t.ca.scheduler.check();
    expect((await numbers(t)).at(-1)).toBe(8);
    const latest = (await new CrlStore(t.db.knex).latest(1))!;
    expect(Math.abs(latest.thisUpdate.getTime() - (Date.now() + offset))).toBeLessThan(5000);
    offset = 0;
  });

  it('rollover: the new issuer issues and publishes; the superseded one keeps publishing for what it issued; a retired one stops', async () => {
    const oldSerial = (await issue(t, token, { csr: csr(), profile: 'tls-server' })).body.serial;
    const der = await nextIssuer(t.chain, 'issuing-ca-2', 'Strongroom Test Issuing CA 2');
    const row = await importIssuer(t.db.knex, t.chain, 'issuing-ca-2', der, 'issuing-ca-2', true);
    await t.ca.issuers.reload();
    await t.ca.scheduler.check();
    await waitForCrl(t, 1n, 'issuing-ca-2');

    const fresh = await issue(t, token, { csr: csr(), profile: 'tls-server' });
    expect(fresh.status).toBe(201);
    expect(fresh.body.chain[0]).toContain(Buffer.from(der).toString('base64').slice(0, 60));
    const view = await call<{ ca: string }>(`${t.url}/v1/certificates/${fresh.body.serial}`, { token });
    expect(view.body.ca).toBe('issuing-ca-2');

    // The superseded issuer's certificate is revoked: its own CRL is regenerated, signed by its own key.
    const before = crlNumberOf((await call<Buffer>(`${t.url}/crl/issuing-ca.crl`)).body);
    expect((await revoke(oldSerial)).status).toBe(200);
    const oldCrl = await waitForCrl(t, before + 1n, 'issuing-ca');
    expect(revokedSerials(oldCrl)).toContain(oldSerial);
    expect(revokedSerials((await call<Buffer>(`${t.url}/crl/issuing-ca-2.crl`)).body)).not.toContain(oldSerial);

    await t.db.knex('certificate_authorities').where({ id: 1 }).update({ status: 'retired' });
    await t.ca.issuers.reload();
    expect((await call(`${t.url}/crl/issuing-ca.crl`)).status).toBe(404);
    expect(row.status).toBe('active');
    expect((await verifyAudit(t.db.knex)).ok).toBe(true);
  });
});
