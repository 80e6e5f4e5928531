/**
 * The scale-out path: a responder process with no HSM access (`strongroom serve ocsp --no-hsm`, built here with
 * createOcspServer) serves the answers the CA pre-signed into the database, follows a revocation made by the CA
 * within its sync interval, and answers what it would have to sign with tryLater. Two processes on one database:
 * PostgreSQL only (the embedded database belongs to one process).
 */
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELPER_THREAD_NICE } from '../../ca/cli/process-priority.ts';
import { RESPONDER_NODE_FLAGS } from '../../ca/cli/serve-ocsp-command.ts';
import { createOcspServer, type OcspServer } from '../../ca/server/ocsp-server.ts';
import { toPem } from '../../ca/x509/index.ts';
import { issuerHashes } from '../../ocsp/encoding/index.ts';
import { call, ensureResponder, issue, opensslCsr, startTestCa, type TestCa } from '../http/fixture.ts';
import { certId, nonceExtension, request, serialContents } from './encoding/library.ts';

const run = promisify(execFile);
const postgres = process.env.DATABASE_URL !== undefined;

let t: TestCa;
let standalone: OcspServer;
let url: string;
let serial: string;
let leafFile: string;
let issuingFile: string;

const req = (s: string, nonce?: Uint8Array) => {
  const h = issuerHashes(t.chain.issuingDer).sha1;
  return request({ certIds: [certId({ nameHash: h.name, keyHash: h.key, serial: serialContents(s) })], ...(nonce ? { extensions: [nonceExtension(nonce)] } : {}) });
};
const post = (body: Uint8Array) => call<Buffer>(`${url}/ocsp`, { method: 'POST', body: Buffer.from(body), headers: { 'Content-Type': 'application/ocsp-request' } });

async function opensslStatus(der: Buffer): Promise<string> {
  const file = join(t.chain.dir, `resp-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(file, der);
  const r = await run('openssl', ['ocsp', '-respin', file, '-issuer', issuingFile, '-cert', leafFile, '-CAfile', t.chain.caFile, '-no_nonce'], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
}

describe.skipIf(!postgres)('a responder without HSM access on the same database', () => {
  beforeAll(async () => {
    t = await startTestCa('ocsp-scale');
    issuingFile = join(t.chain.dir, 'issuing.pem');
    writeFileSync(issuingFile, toPem(t.chain.issuingDer, 'CERTIFICATE'));
    const token = await t.client('scale', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
    const r = await issue(t, token, { csr: opensslCsr(t.chain.dir, 'scale', { san: 'DNS:scale.svc.internal' }), profile: 'tls-server' });
    expect(r.status).toBe(201);
    serial = r.body.serial;
    leafFile = join(t.chain.dir, 'scale.pem');
    writeFileSync(leafFile, r.body.certificate);
    // The responder certificate may still be on its way (listen() waits for it a bounded time): have it, then
    // pre-sign now rather than wait for the CA's next pass.
    await ensureResponder(t);
    let presigned = 0;
    for (let n = await t.ca.ocsp!.responder.presignDue(500); n > 0; n = await t.ca.ocsp!.responder.presignDue(500)) presigned += n;
    const stored = await t.db.knex('ocsp_responses').count('* as n').first();
    expect(presigned + Number(stored?.n ?? 0)).toBeGreaterThan(0);
    standalone = await createOcspServer({ config: { databaseUrl: t.db.url, http: { port: 0 }, ocsp: { syncMs: 100 }, log: { level: 'silent' } } });
    url = (await standalone.listen()).url;
  }, 120_000);

  afterAll(async () => {
    await standalone?.close();
    await t?.close();
  });

  it('serves the pre-signed answer, which openssl verifies', async () => {
    const r = await post(req(serial));
    expect(r.status).toBe(200);
    expect(await opensslStatus(r.body)).toMatch(/scale\.pem: good/);
  });

  it('a nonce request gets the pre-signed answer without the nonce (it cannot sign)', async () => {
    const r = await post(req(serial, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)));
    expect(await opensslStatus(r.body)).toMatch(/scale\.pem: good/);
  });

  it('what it would have to sign (a serial never issued) is answered tryLater', async () => {
    const r = await post(req('0123456789abcdef'));
    expect(r.status).toBe(200);
    expect([...r.body]).toEqual([0x30, 0x03, 0x0a, 0x01, 0x03]);
  });

  it('serves /healthz and /metrics (answers counted by source), and nothing else besides /ocsp', async () => {
    expect((await call(`${url}/healthz`)).status).toBe(200);
    const m = await call<Buffer>(`${url}/metrics`);
    expect(m.status).toBe(200);
    expect(m.body.toString()).toMatch(/strongroom_ocsp_answers_total\{method="POST",source="(memory|stored)",status="200"\} [1-9]/);
    expect((await call(`${url}/v1/certificates`)).status).toBe(404);
  });

  it('a revocation at the CA reaches it within its sync interval', async () => {
    const admin = await t.client('scale-admin', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] }, admin: true });
    const rv = await call(`${t.url}/v1/certificates/${serial}/revoke`, { method: 'POST', token: admin, json: { reason: 'keyCompromise' } });
    expect(rv.status).toBe(200);
    const started = performance.now();
    for (;;) {
      const out = await opensslStatus((await post(req(serial))).body);
      if (/scale\.pem: revoked/.test(out)) break;
      expect(out).toMatch(/scale\.pem: good/);
      expect(performance.now() - started).toBeLessThan(3000);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('`serve ocsp --processes 2`: each responder process runs with RESPONDER_NODE_FLAGS and serves the answer', async () => {
    expect(RESPONDER_NODE_FLAGS).toEqual(expect.arrayContaining(['--single-threaded-gc', '--no-memory-reducer']));
    const child = spawn(process.execPath, [resolve('ca/cli/strongroom.mjs'), 'serve', 'ocsp', '--no-hsm', '--processes', '2', '--port', '0'], {
      env: { ...process.env, DATABASE_URL: t.db.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      const urls = await new Promise<string[]>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`no two responders within 60 s:\n${output}`)), 60_000);
        const seen = (d: Buffer) => {
          output += d.toString();
          const found = [...output.matchAll(/OCSP responder on (http:\S+)\/ocsp/g)].map((m) => m[1]!);
          if (found.length === 2) {
            clearTimeout(timer);
            ok(found);
          }
        };
        child.stdout.on('data', seen);
        child.stderr.on('data', seen);
        child.once('exit', (code) => fail(new Error(`exited ${code}:\n${output}`)));
      });
      expect(urls[0]).toBe(urls[1]);
      // The primary's children: the two forks, and tsx's esbuild service when its cache is cold.
      const { stdout } = await run('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' });
      const children = stdout.split('\n').filter(Boolean).map((pid) => ({ pid, args: readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0') }));
      const forks = children.filter((c) => c.args.some((a) => a.endsWith('strongroom.mjs')));
      expect(forks).toHaveLength(2);
      for (const f of forks) expect(f.args).toEqual(expect.arrayContaining([...RESPONDER_NODE_FLAGS, 'serve', 'ocsp']));
      // The primary only forks and supervises: it keeps the flags it was started with. Its main thread, which accepts
      // every connection, keeps its priority; its helper threads yield to the responders.
      expect(readFileSync(`/proc/${child.pid}/cmdline`, 'latin1')).not.toContain('--single-threaded-gc');
      const niceOf = (pid: number | string, tid: number | string) => Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1').replace(/^.*\) /, '').split(' ')[16]);
      const helpers = readdirSync(`/proc/${child.pid}/task`).filter((tid) => Number(tid) !== child.pid);
      expect(helpers.length).toBeGreaterThan(0);
      expect(niceOf(child.pid!, child.pid!)).toBe(0);
      for (const tid of helpers) expect(niceOf(child.pid!, tid)).toBe(HELPER_THREAD_NICE);
      for (const f of forks) expect(niceOf(f.pid, f.pid)).toBe(0);
      const r = await call<Buffer>(`${urls[0]}/ocsp`, { method: 'POST', body: Buffer.from(req(serial)), headers: { 'Content-Type': 'application/ocsp-request' } });
      expect(r.status).toBe(200);
      expect(await opensslStatus(r.body)).toMatch(/scale\.pem: (good|revoked)/);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }, 90_000);
});
