/**
 * faults.md Scenarios: "primary HSM down, DR token holds the same keys" through the CA's HTTP API. The issuing key
 * is one software-made P-256 key imported into two SoftHSM2 tokens (the test's stand-in for a key restored from
 * backup into the DR HSM; SoftHSM2 cannot copy a non-extractable key). The primary is reached through the fault
 * shim, the DR token through SoftHSM2 directly, so "* rv=CKR_DEVICE_REMOVED" takes down only the primary.
 * Expected: operations move to the DR token without a restart, the DR key's public key equals the issuer
 * certificate's, the switch (and the fail-back) is audited. Then the four invariants.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCertificate, toPem } from '../../../ca/x509/index.ts';
import { Pkcs11KeyStore } from '../../../hsm/index.ts';
import { SOFTHSM_MODULE } from '../../../hsm/soft-token.ts';
import { importSameKey } from '../../hsm/pool-support.ts';
import { call, startTestCa, type CaChain, type TestCa } from '../../http/fixture.ts';
import { SoftwareSigner } from '../../support/software-signer.ts';
import { createTestToken, type TestToken } from '../../support/token.ts';
import { intermediateLint, intermediateSpec, rootLint, rootSpec } from '../../x509/fixtures.ts';
import type { FaultControl } from '../fault-control.ts';
import { FaultLedger, pemToDer } from '../invariants.ts';
import { csrFor, GRANTS, issueRecorded, readyz, setUpShim, waitFor } from './support.ts';

const LABEL = 'issuing-ca';

let fc: FaultControl;
let t: TestCa;
let dr: TestToken;
let token: string;
const ledger = new FaultLedger();
let n = 0;
const next = (what: string) => csrFor(`${what}-${++n}`);

/** makeChain (test/http/fixture.ts), with the issuing key imported into both tokens instead of generated in one. */
async function sharedKeyChain(primary: TestToken, drToken: TestToken): Promise<CaChain> {
  const key = importSameKey([primary, drToken], LABEL);
  const root = SoftwareSigner.generate('ec-p384');
  const rootCert = await issueCertificate(await rootSpec(root), root, rootLint);
  const intermediate = await issueCertificate(await intermediateSpec(rootCert.der, root, key.spki), root, intermediateLint(rootCert.der));
  const dir = mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), 'fault-dr-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, toPem(rootCert.der, 'CERTIFICATE') + toPem(intermediate.der, 'CERTIFICATE'));
  return { token: primary, root, rootDer: rootCert.der, issuingDer: intermediate.der, issuingLabel: LABEL, caFile, dir };
}

/** Successful HSM operations by token, from /metrics. */
async function okOps(tokenName: string): Promise<number> {
  const text = (await call<Buffer>(`${t.url}/metrics`)).body.toString();
  let sum = 0;
  for (const m of text.matchAll(/^strongroom_hsm_operations_total\{([^}]*)\} (\d+(?:\.\d+)?)$/gm)) {
    if (m[1]!.includes(`token="${tokenName}"`) && m[1]!.includes('outcome="ok"')) sum += Number(m[2]);
  }
  return sum;
}

async function servingEvents(): Promise<{ from: string; to: string }[]> {
  const rows = (await t.db.knex('audit_log').where({ action: 'hsm.serving' }).orderBy('seq').select('details')) as { details: { from: string; to: string } }[];
  return rows.map((r) => ({ from: r.details.from, to: r.details.to }));
}

beforeAll(async () => {
  const { shim, fc: control } = setUpShim();
  fc = control;
  const primary = createTestToken('fault-primary');
  dr = createTestToken('fault-dr');
  const chain = await sharedKeyChain(primary, dr);
  process.env.STRONGROOM_FAULT_DR_PIN = dr.pin;
  t = await startTestCa('fault-dr', {
    chain,
    config: {
      hsm: {
        module: shim,
        token: { label: primary.label },
        dr: { module: SOFTHSM_MODULE, token: { label: dr.label }, pin: { env: 'STRONGROOM_FAULT_DR_PIN' } },
        pool: { workers: 2, pipelineDepth: 2, deadlineMs: 5000 },
      },
    },
  });
  token = await t.client('svc', GRANTS);
  for (let i = 0; i < 3; i++) expect((await issueRecorded(t.url, token, ledger, next('before'))).status).toBe(201);
  expect((await readyz(t.url)).body).toMatchObject({ ready: true, hsm: { ready: true, serving: 'primary' } });
  await ledger.check(t.db.knex, 'baseline');
}, 120_000);

afterAll(async () => {
  fc?.clear();
  await t?.close();
});

describe('primary HSM down, DR token holds the same keys', () => {
  it('the DR key is the issuer certificate key', () => {
    const issuerSpki = new X509Certificate(Buffer.from(t.chain.issuingDer)).publicKey.export({ type: 'spki', format: 'der' });
    const ks = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: dr.label }, pin: dr.pin });
    try {
      expect(Buffer.from(ks.publicKey({ label: LABEL }).spki).equals(issuerSpki)).toBe(true);
    } finally {
      ks.close();
    }
  });

  it('operations move to the DR token without a restart, the switch is audited, and they move back', async () => {
    const url = t.url;
    const drOps0 = await okOps('dr');
    fc.inject('* rv=CKR_DEVICE_REMOVED');
    // The request that meets the failure may get its 503 (never a partial certificate); the pool then serves from DR.
    const meet = await issueRecorded(url, token, ledger, next('switch'));
    expect([201, 503]).toContain(meet.status);
    if (meet.status === 503) expect(meet.body.certificate).toBeUndefined();
    const moved = await waitFor(async () => (await readyz(url)).body.hsm?.serving === 'dr', 5000, 'serving from the DR token');
    expect((await readyz(url)).body).toMatchObject({ ready: true, hsm: { ready: true, serving: 'dr' } });

    const issuer = new X509Certificate(Buffer.from(t.chain.issuingDer));
    const onDr = await Promise.all(Array.from({ length: 10 }, () => issueRecorded(url, token, ledger, next('on-dr'))));
    expect(onDr.map((r) => r.status)).toEqual(Array(10).fill(201));
    // Signed with the DR token's copy of the key, verifying under the issuer certificate's public key.
    for (const r of onDr) expect(new X509Certificate(Buffer.from(pemToDer(r.body.certificate))).verify(issuer.publicKey)).toBe(true);
    expect(await okOps('dr')).toBeGreaterThanOrEqual(drOps0 + 10);

    await waitFor(async () => (await servingEvents()).some((e) => e.from === 'primary' && e.to === 'dr'), 10_000, 'hsm.serving primary → dr in the audit log');

    fc.clear();
    const back = await waitFor(async () => (await readyz(url)).body.hsm?.serving === 'primary', 20_000, 'fail-back to the primary');
    const after = await Promise.all(Array.from({ length: 5 }, () => issueRecorded(url, token, ledger, next('back'))));
    expect(after.map((r) => r.status)).toEqual(Array(5).fill(201));
    await waitFor(async () => (await servingEvents()).some((e) => e.from === 'dr' && e.to === 'primary'), 10_000, 'hsm.serving dr → primary in the audit log');
    expect(t.url).toBe(url); // the same server throughout
    console.log(`DR failover: serving dr ${moved.ms.toFixed(0)} ms after the primary went down; back on the primary ${back.ms.toFixed(0)} ms after it returned; audit ${JSON.stringify(await servingEvents())}`);
    await ledger.check(t.db.knex, 'primary HSM down with DR');
  }, 90_000);
});
