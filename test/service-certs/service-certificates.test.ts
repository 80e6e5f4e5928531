// The CA's own service certificates against real SoftHSM2 and the test database: issued at listen() for every
// issuer's OCSP responder, keys generated in the token and never extractable, renewal at the renewal point with a
// new key, rotation listeners, expiry → row retired and key destroyed, one issuance when two ensure() race, and
// the audit chain intact throughout.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../ca/audit/index.ts';
import { createCaServer } from '../../ca/server/index.ts';
import type { RotationEvent, ServiceCertificate } from '../../ca/service-certs/service-certificates.ts';
import { toPem } from '../../ca/x509/index.ts';
import { Pkcs11KeyStore } from '../../hsm/index.ts';
import { reopen, serverConfig, startTestCa, type TestCa } from '../http/fixture.ts';
import { openssl } from '../x509/openssl.ts';

const DAY = 86_400_000;
let t: TestCa;
let now = Date.now();
const clock = () => new Date(now);

beforeAll(async () => {
  t = await startTestCa('svc-certs', { clock });
});
afterAll(async () => t?.close());

function keys() {
  const ks = Pkcs11KeyStore.open({ module: t.chain.token.module, token: { label: t.chain.token.label }, pin: t.chain.token.pin });
  try {
    return ks.list();
  } finally {
    ks.close();
  }
}

function certText(c: ServiceCertificate, name: string): { file: string; text: string } {
  const file = join(t.chain.dir, `${name}.pem`);
  writeFileSync(file, toPem(c.certificateDer, 'CERTIFICATE'));
  return { file, text: openssl(['x509', '-in', file, '-noout', '-text']).out };
}

async function rows(purpose: string) {
  return (await t.db.knex('service_certificates').where({ purpose }).orderBy('id')) as { id: number; status: string; key_label: string; certificate_id: number }[];
}

describe('the OCSP responder certificate', () => {
  it('is issued at listen() and verifies against the issuer with openssl, with the ocsp-signer EKU and ocsp-nocheck', async () => {
    expect(await rows('ocsp')).toHaveLength(1);
    const c = await t.ca.serviceCertificates.ensure('ocsp');
    expect(c.purpose).toBe('ocsp');
    expect(c.keyType).toBe('ec-p256');
    expect(c.keyLabel).toMatch(/^svc-ocsp-issuing-ca-\d{14}$/);
    expect(Buffer.from(c.chain[0]!).equals(Buffer.from(t.chain.issuingDer))).toBe(true);
    expect(Buffer.from(c.chain[1]!).equals(Buffer.from(t.chain.rootDer))).toBe(true);
    const { file, text } = certText(c, 'ocsp');
    const verify = openssl(['verify', '-CAfile', t.chain.caFile, file]);
    expect(verify.out).toContain(': OK');
    expect(verify.ok).toBe(true);
    expect(text).toContain('OCSP Signing');
    expect(text).toContain('OCSP No Check');
    expect(text).toMatch(/Subject: O ?= ?Strongroom, OU ?= ?OCSP Responder/);
    const days = (c.notAfter.getTime() - c.notBefore.getTime()) / DAY;
    expect(Math.round(days)).toBe(30);
  });

  it('has its key in the HSM: sensitive, not extractable, generated there, matching the certificate', async () => {
    const c = (await t.ca.serviceCertificates.current('ocsp'))!;
    const key = keys().find((k) => k.label === c.keyLabel && k.id === c.keyId)!;
    expect(key).toBeDefined();
    expect(key.spkiSha256).toBe(c.spkiSha256);
    expect(key.protection).toMatchObject({ token: true, private: true, sensitive: true, extractable: false, local: true, alwaysSensitive: true, neverExtractable: true, wrapWithTrusted: false });
  });

  it('is recorded like any certificate: client_id NULL, audit actor strongroom with details.purpose', async () => {
    const c = (await t.ca.serviceCertificates.current('ocsp'))!;
    const [svc] = await rows('ocsp');
    const cert = (await t.db.knex('certificates').where({ id: svc!.certificate_id }).first()) as { client_id: number | null; status: string; profile: string; serial: string };
    expect(cert).toMatchObject({ client_id: null, status: 'issued', profile: 'ocsp-signer' });
    const entry = (await t.db.knex('audit_log').where({ action: 'certificate.issue', subject: cert.serial }).first()) as { actor: string; details: Record<string, unknown> };
    expect(entry.actor).toBe('strongroom');
    expect(entry.details).toMatchObject({ purpose: 'ocsp', profile: 'ocsp-signer', keyLabel: c.keyLabel, keyId: c.keyId });
  });

  it('ensure twice → the same certificate, nothing issued', async () => {
    const before = await t.counters();
    const a = await t.ca.serviceCertificates.ensure('ocsp');
    const b = await t.ca.serviceCertificates.ensure('ocsp');
    expect(b.id).toBe(a.id);
    expect(await t.counters()).toEqual(before);
  });

  it('past the renewal point → a new certificate with a new key, listeners told; the old row stays until it expires, then is retired and its key destroyed', async () => {
    const sc = t.ca.serviceCertificates;
    const old = (await sc.current('ocsp'))!;
    const events: RotationEvent[] = [];
    const off = sc.onRotated((e) => events.push(e));
    // Just before 2/3 of the lifetime: still current.
    now = old.notBefore.getTime() + 0.66 * (old.notAfter.getTime() - old.notBefore.getTime());
    expect((await sc.ensure('ocsp')).id).toBe(old.id);
    expect(events).toHaveLength(0);
    now = old.notBefore.getTime() + 0.67 * (old.notAfter.getTime() - old.notBefore.getTime());
    const next = await sc.ensure('ocsp');
    expect(next.id).not.toBe(old.id);
    expect(next.keyId).not.toBe(old.keyId);
    expect(next.spkiSha256).not.toBe(old.spkiSha256);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ purpose: 'ocsp', caId: old.caId });
    expect(events[0]!.current.id).toBe(next.id);
    expect(events[0]!.previous?.id).toBe(old.id);
    expect((await rows('ocsp')).map((r) => r.status)).toEqual(['active', 'active']);
    expect(keys().some((k) => k.id === old.keyId)).toBe(true);

    // A renewal pass before the old one expires changes nothing.
    await sc.check();
    expect((await rows('ocsp')).map((r) => r.status)).toEqual(['active', 'active']);

    // Past the old notAfter (and before the new one's renewal point): retired, key destroyed, the new one untouched.
    now = old.notAfter.getTime() + 1000;
    await sc.check();
    expect((await rows('ocsp')).map((r) => r.status)).toEqual(['retired', 'active']);
    const left = keys();
    expect(left.some((k) => k.id === old.keyId)).toBe(false);
    expect(left.some((k) => k.id === next.keyId)).toBe(true);
    expect((await sc.ensure('ocsp')).id).toBe(next.id);
    expect(events).toHaveLength(1);
    off();
  });

  it('the audit chain verifies', async () => {
    const report = await verifyAudit(t.db.knex);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });
});

describe('concurrency', () => {
  it('two concurrent ensure() in one process → one issuance', async () => {
    const before = await t.counters();
    const [a, b] = await Promise.all([t.ca.serviceCertificates.ensure('tsa'), t.ca.serviceCertificates.ensure('tsa')]);
    expect(a.id).toBe(b.id);
    expect(await rows('tsa')).toHaveLength(1);
    const after = await t.counters();
    expect(after.rows - before.rows).toBe(1);
    const { text } = certText(a, 'tsa');
    expect(text).toContain('Time Stamping');
  });

  it.skipIf(!process.env.DATABASE_URL)('two processes (two servers, two connection pools) ensuring at once → one issuance', async () => {
    // What two processes share: the database and the token. Another server on its own connections stands in.
    const knex = await reopen(t.db);
    const other = await createCaServer({ config: serverConfig(t.chain), pin: t.chain.token.pin, database: knex, clock });
    try {
      // Both find the current OCSP certificate due for renewal at the same moment.
      const current = (await t.ca.serviceCertificates.current('ocsp'))!;
      now = current.notBefore.getTime() + 0.7 * (current.notAfter.getTime() - current.notBefore.getTime());
      const count = (await rows('ocsp')).length;
      const [a, b] = await Promise.all([t.ca.serviceCertificates.ensure('ocsp'), other.serviceCertificates.ensure('ocsp')]);
      expect(a.id).toBe(b.id);
      expect(a.id).not.toBe(current.id);
      expect(await rows('ocsp')).toHaveLength(count + 1);
    } finally {
      await other.close();
      await knex.destroy();
    }
  });
});
