/**
 * The OCSP responder inside the all-in-one CA, with `openssl ocsp` as the client: good, revoked with its reason,
 * a never-issued serial, nonces, the GET form with RFC 5019 caching headers, SHA-256 CertIDs, and revocation visible
 * on the very next request.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { OCSPRequest } from '@peculiar/asn1-ocsp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, issue, opensslCsr, startTestCa, type TestCa } from '../http/fixture.ts';

let t: TestCa;
let token: string;
let admin: string;
const leaves: Record<string, { serial: string; file: string }> = {};

const run = promisify(execFile);

/** openssl ocsp talking to the server in this process: asynchronous, or the event loop would wait on itself. */
async function ocsp(args: string[]): Promise<{ out: string; ok: boolean }> {
  try {
    const r = await run('openssl', ['ocsp', '-issuer', join(t.chain.dir, 'issuing.pem'), '-CAfile', t.chain.caFile, '-url', `${t.url}/ocsp`, '-timeout', '10', ...args], { cwd: t.chain.dir, encoding: 'utf8' });
    return { out: `${r.stdout}${r.stderr}`, ok: true };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    return { out: `${x.stdout ?? ''}${x.stderr ?? ''}`, ok: false };
  }
}

async function leaf(name: string): Promise<{ serial: string; file: string }> {
  const csr = opensslCsr(t.chain.dir, name, { san: `DNS:${name}.svc.internal` });
  const r = await issue(t, token, { csr, profile: 'tls-server' });
  expect(r.status).toBe(201);
  const file = join(t.chain.dir, `${name}.pem`);
  writeFileSync(file, r.body.certificate);
  return { serial: r.body.serial, file };
}

beforeAll(async () => {
  t = await startTestCa('ocsp-openssl');
  const issuingPem = execFileSync('openssl', ['x509', '-inform', 'DER', '-outform', 'PEM'], { input: Buffer.from(t.chain.issuingDer) }).toString();
  writeFileSync(join(t.chain.dir, 'issuing.pem'), issuingPem);
  const grants = { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } };
  token = await t.client('ocsp-svc', grants);
  admin = await t.client('ocsp-admin', { ...grants, admin: true });
  for (const n of ['good', 'revoked', 'fresh']) leaves[n] = await leaf(n);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('openssl ocsp against the responder', () => {
  it('good: verifies with the delegated responder certificate, nonce echoed', async () => {
    const r = await ocsp(['-cert', leaves.good!.file, '-resp_text']);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/good\.pem: good/);
    expect(r.out).toContain('OCSP Nonce');
    expect(r.out).toMatch(/Responder Id: [0-9A-F]{40}/);
    expect(r.out).toMatch(/OCSP Signing/);
    expect(r.out).toMatch(/OCSP No Check/);
    expect(r.ok).toBe(true);
  });

  it('revoked with its reason, visible on the very next request after the revoke call returns', async () => {
    const before = await ocsp(['-cert', leaves.revoked!.file, '-no_nonce']);
    expect(before.out).toMatch(/revoked\.pem: good/);
    const rv = await call(`${t.url}/v1/certificates/${leaves.revoked!.serial}/revoke`, { method: 'POST', token, json: { reason: 'keyCompromise' } });
    expect(rv.status).toBe(200);
    const after = await ocsp(['-cert', leaves.revoked!.file, '-no_nonce']);
    expect(after.out).toContain('Response verify OK');
    expect(after.out).toMatch(/revoked\.pem: revoked/);
    expect(after.out).toMatch(/Reason: keyCompromise/);
    expect(after.out).toMatch(/Revocation Time:/);
  });

  it('a serial never issued is unknown, never good', async () => {
    const r = await ocsp(['-serial', '0x7a7a7a7a7a7a7a7a7a7a', '-resp_text']);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/0x7A7A7A7A7A7A7A7A7A7A: unknown/i);
  });

  it('SHA-256 CertIDs are answered', async () => {
    const r = await ocsp(['-sha256', '-cert', leaves.good!.file, '-resp_text']);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/Hash Algorithm: sha256/);
    expect(r.out).toMatch(/good\.pem: good/);
  });

  it('several CertIDs in one request: every one answered in one signed response', async () => {
    const r = await ocsp(['-cert', leaves.good!.file, '-cert', leaves.fresh!.file, '-cert', leaves.revoked!.file]);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/good\.pem: good/);
    expect(r.out).toMatch(/fresh\.pem: good/);
    expect(r.out).toMatch(/revoked\.pem: revoked/);
  });

  it('GET form: the same answer, with RFC 5019 caching headers; POST answers are not cacheable', async () => {
    const reqFile = join(t.chain.dir, 'get-req.der');
    execFileSync('openssl', ['ocsp', '-issuer', join(t.chain.dir, 'issuing.pem'), '-cert', leaves.fresh!.file, '-no_nonce', '-reqout', reqFile], { cwd: t.chain.dir });
    const der = execFileSync('cat', [reqFile]);
    AsnConvert.parse(der, OCSPRequest);
    const get = await call<Buffer>(`${t.url}/ocsp/${encodeURIComponent(der.toString('base64'))}`);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toBe('application/ocsp-response');
    const cc = get.headers.get('cache-control') ?? '';
    expect(cc).toMatch(/max-age=\d+/);
    expect(cc).toContain('public');
    expect(cc).toContain('no-transform');
    expect(cc).toContain('must-revalidate');
    const maxAge = Number(/max-age=(\d+)/.exec(cc)![1]);
    const expires = new Date(get.headers.get('expires')!);
    const lastModified = new Date(get.headers.get('last-modified')!);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(3600);
    expect(expires.getTime()).toBeGreaterThan(Date.now());
    expect(lastModified.getTime()).toBeLessThanOrEqual(Date.now());
    expect(get.headers.get('etag')).toMatch(/^"[0-9a-f]{40}"$/);
    // The same answer again (memory), and a conditional GET gets 304.
    const again = await call<Buffer>(`${t.url}/ocsp/${encodeURIComponent(der.toString('base64'))}`);
    expect(Buffer.compare(again.body, get.body)).toBe(0);
    const cond = await fetch(`${t.url}/ocsp/${encodeURIComponent(der.toString('base64'))}`, { headers: { 'If-None-Match': get.headers.get('etag')! } });
    expect(cond.status).toBe(304);
    const post = await call<Buffer>(`${t.url}/ocsp`, { method: 'POST', body: der, headers: { 'Content-Type': 'application/ocsp-request' } });
    expect(post.status).toBe(200);
    expect(Buffer.compare(post.body, get.body)).toBe(0);
    expect(post.headers.get('cache-control')).toContain('no-store');
    // openssl accepts the GET answer as the response to its request.
    const respFile = join(t.chain.dir, 'get-resp.der');
    writeFileSync(respFile, get.body);
    const check = execFileSync('openssl', ['ocsp', '-respin', respFile, '-reqin', reqFile, '-issuer', join(t.chain.dir, 'issuing.pem'), '-cert', leaves.fresh!.file, '-CAfile', t.chain.caFile], { cwd: t.chain.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(check).toMatch(/fresh\.pem: good/);
  });

  it('an admin revocation through the API is seen at once by GET too', async () => {
    const reqFile = join(t.chain.dir, 'get2-req.der');
    execFileSync('openssl', ['ocsp', '-issuer', join(t.chain.dir, 'issuing.pem'), '-cert', leaves.fresh!.file, '-no_nonce', '-reqout', reqFile], { cwd: t.chain.dir });
    const url = `${t.url}/ocsp/${encodeURIComponent(execFileSync('cat', [reqFile]).toString('base64'))}`;
    const rv = await call(`${t.url}/v1/certificates/${leaves.fresh!.serial}/revoke`, { method: 'POST', token: admin, json: { reason: 'superseded' } });
    expect(rv.status).toBe(200);
    const respFile = join(t.chain.dir, 'get2-resp.der');
    writeFileSync(respFile, (await call<Buffer>(url)).body);
    const check = execFileSync('openssl', ['ocsp', '-respin', respFile, '-issuer', join(t.chain.dir, 'issuing.pem'), '-cert', leaves.fresh!.file, '-CAfile', t.chain.caFile, '-no_nonce'], { cwd: t.chain.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(check).toMatch(/fresh\.pem: revoked/);
    expect(check).toMatch(/Reason: superseded/);
  });
});
