// Delta CRLs (RFC 5280 §5.2.4), with crl.deltaValiditySeconds set: each complete CRL names the delta location in
// freshestCRL; a delta follows every complete CRL, its base the oldest complete CRL still valid, listing what that
// base does not; both kinds share one number sequence. openssl verify -use_deltas is the relying party: holding an
// older complete CRL, it learns a revocation from the delta alone.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCaServerConfig } from '../../ca/server/config.ts';
import { toPem } from '../../ca/x509/index.ts';
import { crlNumberOf, revokedSerials, waitForCrl } from '../http/crl-support.ts';
import { call, issue, openssl, opensslCsr, PUBLIC_URL, serverConfig, startTestCa, type TestCa } from '../http/fixture.ts';

const DELTA_SECONDS = 3600;
const extensionsOf = (der: Uint8Array) => AsnConvert.parse(der, CertificateList).tbsCertList.crlExtensions ?? [];
const indicator = (der: Uint8Array) => extensionsOf(der).find((e) => e.extnID === '2.5.29.27');
const baseOf = (der: Uint8Array) => {
  const v = new Uint8Array(indicator(der)!.extnValue.buffer);
  return BigInt(`0x${Buffer.from(v.subarray(2, 2 + v[1]!)).toString('hex')}`);
};

describe('delta CRLs', () => {
  let t: TestCa;
  let token: string;

  const fetchDelta = async (atLeast: bigint) => {
    const deadline = performance.now() + 15_000;
    for (;;) {
      const r = await call<Buffer>(`${t.url}/crl/delta/issuing-ca.crl`);
      if (r.status === 200 && crlNumberOf(r.body) >= atLeast) return r;
      if (performance.now() > deadline) throw new Error(`no delta CRL numbered ${atLeast} (last status ${r.status})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const pemFile = (name: string, ...ders: Uint8Array[]) => {
    const file = join(t.chain.dir, name);
    writeFileSync(file, ders.map((d) => toPem(d, 'X509 CRL')).join(''));
    return file;
  };
  const verify = (cert: string, crls: string, deltas = true) => {
    try {
      return openssl(t.chain.dir, ['verify', '-crl_check', ...(deltas ? ['-use_deltas'] : []), '-CAfile', t.chain.caFile, '-CRLfile', crls, cert]);
    } catch (e) {
      return String((e as { stdout?: string }).stdout ?? '') + String((e as { stderr?: string }).stderr ?? '');
    }
  };
  const newCertificate = async (name: string) => {
    const r = await issue(t, token, { csr: opensslCsr(t.chain.dir, name, { subject: `/CN=${name}.svc.internal`, san: `DNS:${name}.svc.internal` }), profile: 'tls-server' });
    expect(r.status).toBe(201);
    const file = join(t.chain.dir, `${name}.pem`);
    writeFileSync(file, r.body.certificate);
    return { serial: r.body.serial, file };
  };

  beforeAll(async () => {
    t = await startTestCa('delta-crl', { config: { crl: { debounceMs: 300, validitySeconds: 4 * 86_400, deltaValiditySeconds: DELTA_SECONDS } } });
    token = await t.client('delta-bot', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
    await waitForCrl(t, 1n);
  });
  afterAll(async () => t?.close());

  it('at start: complete CRL 1 naming the delta location in freshestCRL, then delta 2 of base 1, critical, an hour long, empty', async () => {
    const complete = await waitForCrl(t, 1n);
    expect(crlNumberOf(complete)).toBe(1n);
    expect(indicator(complete)).toBeUndefined();
    const completeText = openssl(t.chain.dir, ['crl', '-noout', '-text', '-in', pemFile('c1.pem', complete)]);
    expect(completeText).toMatch(/X509v3 Freshest CRL:\s*\n\s*Full Name:\s*\n\s*URI:http:\/\/127\.0\.0\.1:8080\/crl\/delta\/issuing-ca\.crl/);
    expect(PUBLIC_URL).toBe('http://127.0.0.1:8080');

    const delta = await fetchDelta(2n);
    expect(delta.headers.get('content-type')).toBe('application/pkix-crl');
    expect(crlNumberOf(delta.body)).toBe(2n);
    expect(indicator(delta.body)!.critical).toBe(true);
    expect(baseOf(delta.body)).toBe(1n);
    expect(revokedSerials(delta.body)).toEqual([]);
    const deltaText = openssl(t.chain.dir, ['crl', '-noout', '-text', '-in', pemFile('d2.pem', delta.body)]);
    expect(deltaText).toMatch(/X509v3 Delta CRL Indicator: critical\s*\n\s*1\b/);
    const tbs = AsnConvert.parse(delta.body, CertificateList).tbsCertList;
    expect(tbs.nextUpdate!.getTime().getTime() - tbs.thisUpdate.getTime().getTime()).toBe(DELTA_SECONDS * 1000);
  });

  it('a revocation: a new complete CRL, then a delta of the oldest valid complete CRL; openssl holding the old complete CRL learns it from the delta', async () => {
    const old = await waitForCrl(t, 1n);
    const revoked = await newCertificate('gone');
    const kept = await newCertificate('kept');
    const r = await call(`${t.url}/v1/certificates/${revoked.serial}/revoke`, { method: 'POST', token, json: { reason: 'keyCompromise' } });
    expect(r.status).toBe(200);

    const complete = await waitForCrl(t, 3n);
    expect(crlNumberOf(complete)).toBe(3n);
    const delta = (await fetchDelta(4n)).body;
    expect(crlNumberOf(delta)).toBe(4n);
    // CRL 1 is still within its validity: a relying party may hold it, so it is the base.
    expect(baseOf(delta)).toBe(1n);
    expect(revokedSerials(delta)).toEqual([BigInt(`0x${revoked.serial}`).toString(16)]);
    expect(revokedSerials(complete)).toEqual([BigInt(`0x${revoked.serial}`).toString(16)]);

    // The old complete CRL alone knows nothing of it; with the delta, openssl says revoked.
    expect(verify(revoked.file, pemFile('old.pem', old))).toMatch(/: OK\s*$/);
    expect(verify(revoked.file, pemFile('old+delta.pem', old, delta))).toMatch(/certificate revoked/);
    expect(verify(kept.file, pemFile('old+delta-kept.pem', old, delta))).toMatch(/: OK\s*$/);
    // The new complete CRL with the same delta (base 1 ≤ 3 < 4) agrees.
    expect(verify(revoked.file, pemFile('new+delta.pem', complete, delta))).toMatch(/certificate revoked/);

    const rows = (await t.db.knex('crls').where({ ca_id: 1 }).orderBy('crl_number').select('crl_number', 'delta_base')) as { crl_number: string | number; delta_base: string | number | null }[];
    expect(rows.map((x) => [Number(x.crl_number), x.delta_base === null ? null : Number(x.delta_base)])).toEqual([
      [1, null],
      [2, 1],
      [3, null],
      [4, 1],
    ]);
    // The served complete CRL is the complete one, never a delta with a higher number.
    expect(crlNumberOf((await call<Buffer>(`${t.url}/crl/issuing-ca.crl`)).body)).toBe(3n);
    const audit = (await t.db.knex('audit_log').where({ action: 'crl.publish' }).orderBy('seq').select('details')) as { details: { crlNumber: string; deltaOf?: string } }[];
    expect(audit.map((a) => [a.details.crlNumber, a.details.deltaOf ?? null])).toEqual([
      ['1', null],
      ['2', '1'],
      ['3', null],
      ['4', '1'],
    ]);
  });

  it('an unknown CA has no delta CRL (404)', async () => {
    expect((await call(`${t.url}/crl/delta/nobody.crl`)).status).toBe(404);
  });

  it.each<[string, object]>([
    ['as long as the complete CRL', { validitySeconds: 86_400, deltaValiditySeconds: 86_400 }],
    ['under five minutes', { deltaValiditySeconds: 60 }],
  ])('config: a delta validity %s is refused', (_, crl) => {
    expect(() => parseCaServerConfig(serverConfig(t.chain, { crl }))).toThrow(/deltaValiditySeconds/);
    expect(() => parseCaServerConfig(serverConfig(t.chain, { crl: { deltaValiditySeconds: 3600 } }))).not.toThrow();
  });
});
