/**
 * Responder-certificate rotation under load: requests keep being answered (none fails) while the service
 * certificate is renewed and the responder swaps to the new key, and openssl verifies answers signed before and
 * after. The clock is moved past the renewal point (2/3 of the responder certificate's lifetime).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BasicOCSPResponse, OCSPResponse } from '@peculiar/asn1-ocsp';
import { AsnConvert } from '@peculiar/asn1-schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toPem } from '../../ca/x509/index.ts';
import { issuerHashes } from '../../ocsp/encoding/index.ts';
import { call, issue, opensslCsr, startTestCa, type TestCa } from '../http/fixture.ts';
import { certId, nonceExtension, request, serialContents } from './encoding/library.ts';

const run = promisify(execFile);
const DAY = 86_400_000;
let offset = 0;
const clock = () => new Date(Date.now() + offset);

let t: TestCa;
let serial: string;
let leafFile: string;
let issuingFile: string;

function body(nonce?: number) {
  const h = issuerHashes(t.chain.issuingDer).sha1;
  const s = serialContents(serial);
  return request({ certIds: [certId({ nameHash: h.name, keyHash: h.key, serial: s })], ...(nonce !== undefined ? { extensions: [nonceExtension(Uint8Array.of(9, 9, 9, 9, nonce >> 24, nonce >> 16, nonce >> 8, nonce))] } : {}) });
}

async function ask(b: Uint8Array) {
  const r = await call<Buffer>(`${t.url}/ocsp`, { method: 'POST', body: Buffer.from(b), headers: { 'Content-Type': 'application/ocsp-request' } });
  expect(r.status).toBe(200);
  return r.body;
}

function signerOf(der: Buffer): string {
  const resp = AsnConvert.parse(der, OCSPResponse);
  expect(resp.responseStatus).toBe(0);
  const basic = AsnConvert.parse(resp.responseBytes!.response.buffer, BasicOCSPResponse);
  return Buffer.from(basic.tbsResponseData.responderID.byKey!.buffer).toString('hex');
}

async function opensslSays(der: Buffer): Promise<string> {
  const file = join(t.chain.dir, `rot-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(file, der);
  const at = String(Math.floor(clock().getTime() / 1000) + 60);
  const r = await run('openssl', ['ocsp', '-respin', file, '-issuer', issuingFile, '-cert', leafFile, '-CAfile', t.chain.caFile, '-no_nonce', '-attime', at, '-validity_period', String(60 * DAY / 1000)], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
}

beforeAll(async () => {
  t = await startTestCa('ocsp-rotate', { clock });
  issuingFile = join(t.chain.dir, 'issuing.pem');
  writeFileSync(issuingFile, toPem(t.chain.issuingDer, 'CERTIFICATE'));
  const token = await t.client('rot', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
  const r = await issue(t, token, { csr: opensslCsr(t.chain.dir, 'rot', { san: 'DNS:rot.svc.internal' }), profile: 'tls-server' });
  expect(r.status).toBe(201);
  serial = r.body.serial;
  leafFile = join(t.chain.dir, 'rot.pem');
  writeFileSync(leafFile, r.body.certificate);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('responder certificate rotation', () => {
  it('swaps to the new responder key without a single failed request', async () => {
    const before = await ask(body(1));
    const oldSigner = signerOf(before);
    expect(await opensslSays(before)).toMatch(/rot\.pem: good/);

    let stop = false;
    let answered = 0;
    const failures: string[] = [];
    const load = (async () => {
      for (let i = 2; !stop; i++) {
        try {
          for (const der of await Promise.all([ask(body(i)), ask(body())])) signerOf(der);
          answered += 2;
        } catch (e) {
          failures.push(String(e));
        }
      }
    })();

    // 21 of the certificate's 30 days: past the renewal point, not past its end.
    offset = 21 * DAY;
    await t.ca.serviceCertificates.check();
    let after: Buffer | undefined;
    const deadline = performance.now() + 10_000;
    while (performance.now() < deadline) {
      const der = await ask(body(0x7fff));
      if (signerOf(der) !== oldSigner) {
        after = der;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    // A few more rounds on the new key, then stop the load.
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await load;

    expect(after, 'the responder never moved to the renewed certificate').toBeDefined();
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(10);
    expect(await opensslSays(after!)).toMatch(/rot\.pem: good/);
    // Answers pre-signed by the old key stay valid: the old certificate has not expired.
    expect(await opensslSays(before)).toMatch(/rot\.pem: good/);
  });
});
