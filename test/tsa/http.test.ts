// POST /tsa and GET /v1/timestamps/{serial} on a running CA server, with openssl ts as the reference client.
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { MessageImprint, TimeStampReq } from '@peculiar/asn1-tsp';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, openssl } from '../http/fixture.ts';
import { postTsa, startTsaServer, type TsaServer } from './server.ts';
import { failInfoNames, statusOf } from './support.ts';

let t: TsaServer;
let token: string;
let n = 0;

beforeAll(async () => {
  t = await startTsaServer('tsa-http');
  token = (await t.ca.clients.add({ name: 'reader', grants: { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } } }, 'test')).token;
  writeFileSync(join(t.chain.dir, 'data.bin'), Buffer.alloc(5000, 3));
});

afterAll(async () => {
  await t?.close();
});

async function stampFile(args: string[]) {
  const id = ++n;
  openssl(t.chain.dir, ['ts', '-query', '-data', 'data.bin', ...args, '-out', `h${id}.tsq`]);
  const res = await postTsa(t.url, readFileSync(join(t.chain.dir, `h${id}.tsq`)));
  writeFileSync(join(t.chain.dir, `h${id}.tsr`), res.body);
  return { ...res, q: `h${id}.tsq`, r: `h${id}.tsr` };
}

const verify = (args: string[]) => openssl(t.chain.dir, ['ts', '-verify', ...args, '-CAfile', 'root.pem']);

describe('POST /tsa', () => {
  it('answers application/timestamp-reply that openssl verifies (certReq, and without it given the TSA certificate)', async () => {
    const withCert = await stampFile(['-sha256', '-cert']);
    expect(withCert.status).toBe(200);
    expect(withCert.headers.get('content-type')).toBe('application/timestamp-reply');
    expect(withCert.headers.get('cache-control')).toBe('no-store');
    expect(verify(['-queryfile', withCert.q, '-in', withCert.r, '-untrusted', 'issuing.pem'])).toContain('Verification: OK');
    expect(verify(['-data', 'data.bin', '-in', withCert.r, '-untrusted', 'issuing.pem'])).toContain('Verification: OK');
    const without = await stampFile(['-sha512']);
    expect(verify(['-queryfile', without.q, '-in', without.r, '-untrusted', 'issuing+tsa.pem'])).toContain('Verification: OK');
    expect(verify(['-data', 'data.bin', '-in', without.r, '-untrusted', 'issuing+tsa.pem'])).toContain('Verification: OK');
  });

  it('answers request faults in the protocol (HTTP 200, rejection + failInfo), with no token recorded', async () => {
    const r = await stampFile(['-sha1']);
    expect(r.status).toBe(200);
    expect(statusOf(r.body)).toBe(2);
    expect(failInfoNames(r.body)).toEqual(['badAlg']);
    const p = await stampFile(['-sha256', '-tspolicy', '1.2.3.4']);
    expect(failInfoNames(p.body)).toEqual(['unacceptedPolicy']);
  });

  it('refuses another Content-Type with 415, before reading the body', async () => {
    const der = readFileSync(join(t.chain.dir, 'h1.tsq'));
    for (const type of ['application/json', 'application/octet-stream', 'application/timestamp-reply']) {
      const r = await call(`${t.url}/tsa`, { method: 'POST', headers: { 'Content-Type': type }, body: der });
      expect(r.status).toBe(415);
      expect((r.body as { error: { code: string } }).error.code).toBe('unsupported_media_type');
    }
    const bare = await call(`${t.url}/tsa`, { method: 'POST', body: der });
    expect(bare.status).toBe(415);
    // Parameters are allowed, case does not matter.
    expect((await postTsa(t.url, der, 'Application/TimeStamp-Query; charset=binary')).status).toBe(200);
  });

  it('refuses a body over 8 KiB with 413: declared, or chunked past the limit', async () => {
    const big = await postTsa(t.url, new Uint8Array(9000));
    expect(big.status).toBe(413);
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${t.url}/tsa`, { method: 'POST', headers: { 'Content-Type': 'application/timestamp-query', 'Transfer-Encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write(Buffer.alloc(1024));
      req.end();
    });
    expect(chunked).toBe(413);
  });

  it('GET /tsa is 405', async () => {
    expect((await call(`${t.url}/tsa`)).status).toBe(405);
  });

  it('sheds load beyond tsa.maxInFlight with 503, Retry-After and a systemFailure reply', async () => {
    const s = await startTsaServer('tsa-load', { tsa: { maxInFlight: 1 } });
    try {
      const der = new Uint8Array(AsnConvert.serialize(new TimeStampReq({ messageImprint: new MessageImprint({ hashAlgorithm: new AlgorithmIdentifier({ algorithm: '2.16.840.1.101.3.4.2.1' }), hashedMessage: new OctetString(new Uint8Array(32)) }) })));
      const answers = await Promise.all(Array.from({ length: 30 }, () => postTsa(s.url, der)));
      const shed = answers.filter((a) => a.status === 503);
      expect(shed.length).toBeGreaterThan(0);
      expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(0);
      expect(shed[0]!.headers.get('retry-after')).toBe('1');
      expect(shed[0]!.headers.get('content-type')).toBe('application/timestamp-reply');
      expect(failInfoNames(shed[0]!.body)).toEqual(['systemFailure']);
    } finally {
      await s.close();
    }
  });
});

describe('GET /v1/timestamps/{serial}', () => {
  it('shows a recorded token to an authenticated client, by decimal or 0x-hex serial', async () => {
    const r = await stampFile(['-sha256', '-cert']);
    const reply = openssl(t.chain.dir, ['ts', '-reply', '-in', r.r, '-text']);
    const serial = BigInt(/Serial number: (0x[0-9A-F]+)/.exec(reply)![1]!);
    expect((await call(`${t.url}/v1/timestamps/${serial}`)).status).toBe(401);
    const got = await call<Record<string, string>>(`${t.url}/v1/timestamps/${serial}`, { token });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ serial: serial.toString(), serialHex: serial.toString(16), policy: '1.3.6.1.4.1.99999.3161.1', hashAlgorithm: 'sha256' });
    const query = openssl(t.chain.dir, ['ts', '-query', '-in', r.q, '-text']);
    expect(BigInt(`0x${got.body.nonce}`)).toBe(BigInt(/Nonce: (0x[0-9A-F]+)/.exec(query)![1]!));
    const token64 = Buffer.from(got.body.token!, 'base64');
    writeFileSync(join(t.chain.dir, 'got.tok'), token64);
    // Recorded without the certificate (unsigned): verifies with it supplied.
    expect(verify(['-queryfile', r.q, '-in', 'got.tok', '-token_in', '-untrusted', 'issuing+tsa.pem'])).toContain('Verification: OK');
    expect((await call(`${t.url}/v1/timestamps/0x${serial.toString(16)}`, { token })).status).toBe(200);
    for (const bad of ['999999', '0', 'abc', '99999999999999999999999']) expect((await call(`${t.url}/v1/timestamps/${bad}`, { token })).status).toBe(404);
  });
});
