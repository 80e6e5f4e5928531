// The TSA service against real SoftHSM2 and the database, with openssl ts as the reference client.
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { TimeStampReq, TimeStampResp, MessageImprint, PKIStatus } from '@peculiar/asn1-tsp';
import { AlgorithmIdentifier, Extension, Extensions } from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateLatest } from '../../ca/db/migrate.ts';
import { TimestampStore } from '../../ca/db/timestamp-store.ts';
import { SerialAllocator } from '../../ca/tsa/serial-allocator.ts';
import { FAILURE_BITS } from '../../ca/tsa/tsa-failure.ts';
import { GroupCommit } from '../../ca/db/group-commit.ts';
import { TsaService } from '../../ca/tsa/tsa-service.ts';
import { toPem } from '../../ca/x509/index.ts';
import { SessionPool } from '../../hsm/index.ts';
import { CountingPool, makeChain, openssl, type CaChain } from '../http/fixture.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { identityOf, tsaCredentials, type TsaCredentials } from './support.ts';

const POLICY = '1.3.6.1.4.1.99999.3161.1';
const POLICY_2 = '1.3.6.1.4.1.99999.3161.2';

let chain: CaChain;
let db: TestDatabase;
let pool: CountingPool;
let creds: TsaCredentials;
let store: TimestampStore;
let tsa: TsaService;
let clockOk = true;
let n = 0;

beforeAll(async () => {
  chain = await makeChain('tsa-svc');
  db = await freshDatabase();
  await migrateLatest(db.knex);
  pool = new CountingPool(await SessionPool.open({ primary: { name: 'primary', module: chain.token.module, token: { label: chain.token.label }, pin: chain.token.pin }, workers: 2, pipelineDepth: 8, queueLimit: 1000, deadlineMs: 5000, keyHandles: 'session-copy' }));
  creds = await tsaCredentials(chain, pool);
  const identity = identityOf(pool, creds, chain);
  store = new TimestampStore(db.knex);
  tsa = new TsaService({
    identity: () => identity,
    policies: [POLICY, POLICY_2],
    accuracyMs: 1000,
    clock: () => new Date(),
    clockOk: () => clockOk,
    serials: new SerialAllocator((k) => store.reserveSerials(k), 8),
    recorder: new GroupCommit((rows) => store.insertMany(rows)),
  });
  writeFileSync(join(chain.dir, 'root.pem'), toPem(chain.rootDer, 'CERTIFICATE'));
  writeFileSync(join(chain.dir, 'issuing.pem'), toPem(chain.issuingDer, 'CERTIFICATE'));
  writeFileSync(join(chain.dir, 'issuing+tsa.pem'), toPem(chain.issuingDer, 'CERTIFICATE') + toPem(creds.certificateDer, 'CERTIFICATE'));
  writeFileSync(join(chain.dir, 'data.txt'), 'the quick brown fox\n');
});

afterAll(async () => {
  await pool?.close();
  await db?.drop();
});

/** openssl ts -query → the service → response file; returns the file names. */
async function stamp(queryArgs: string[]) {
  const id = ++n;
  const q = `q${id}.tsq`;
  const r = `r${id}.tsr`;
  openssl(chain.dir, ['ts', '-query', '-data', 'data.txt', ...queryArgs, '-out', q]);
  const answer = await tsa.respond(readFileSync(join(chain.dir, q)));
  writeFileSync(join(chain.dir, r), answer.der);
  return { q, r, answer };
}

function verify(args: string[]): string {
  return openssl(chain.dir, ['ts', '-verify', ...args, '-CAfile', 'root.pem']);
}

function parseResp(der: Uint8Array) {
  return AsnConvert.parse(der, TimeStampResp);
}

/** The failInfo bits by RFC 3161 name (asn1-tsp's own names are off by one bit in 2.6). */
function failInfoNames(resp: TimeStampResp): string[] {
  const bits = new Uint8Array(resp.status.failInfo!.value);
  return Object.entries(FAILURE_BITS)
    .filter(([, bit]) => (bits[bit >> 3] ?? 0) & (0x80 >> (bit & 7)))
    .map(([name]) => name);
}

describe('TSA service', () => {
  it('grants a token openssl verifies against the query and against the data (certReq: certificate included)', async () => {
    const signs = pool.signs;
    const { q, r, answer } = await stamp(['-sha256', '-cert']);
    expect(answer.httpStatus).toBe(200);
    expect(pool.signs - signs).toBe(1);
    expect(verify(['-queryfile', q, '-in', r, '-untrusted', 'issuing.pem'])).toContain('Verification: OK');
    expect(verify(['-data', 'data.txt', '-in', r, '-untrusted', 'issuing.pem'])).toContain('Verification: OK');
  });

  it('leaves the certificate out without certReq; it then verifies with the TSA certificate supplied', async () => {
    const { q, r } = await stamp(['-sha256']);
    const text = openssl(chain.dir, ['ts', '-reply', '-in', r, '-token_out', '-out', `${r}.tok`]);
    expect(text).toBe('');
    const cms = openssl(chain.dir, ['cms', '-cmsout', '-inform', 'DER', '-in', `${r}.tok`, '-print']);
    expect(cms).toMatch(/certificates:\s*<ABSENT>/);
    expect(() => verify(['-queryfile', q, '-in', r, '-untrusted', 'issuing.pem'])).toThrow();
    expect(verify(['-queryfile', q, '-in', r, '-untrusted', 'issuing+tsa.pem'])).toContain('Verification: OK');
  });

  it('shows the expected fields: policy, imprint, serial, time, accuracy, nonce echoed, TSA name', async () => {
    const { q, r, answer } = await stamp(['-sha384', '-cert', '-tspolicy', POLICY_2]);
    const reply = openssl(chain.dir, ['ts', '-reply', '-in', r, '-text']);
    const query = openssl(chain.dir, ['ts', '-query', '-in', q, '-text']);
    const nonce = /Nonce: (0x[0-9A-F]+)/.exec(query)![1]!;
    expect(reply).toContain('Status: Granted.');
    expect(reply).toContain(`Policy OID: ${POLICY_2}`);
    expect(reply).toContain('Hash Algorithm: sha384');
    expect(reply).toContain(`Serial number: 0x${answer.granted!.serial.toString(16).toUpperCase().padStart(2, '0')}`);
    expect(reply).toContain('Accuracy: 0x01 seconds, unspecified millis, unspecified micros');
    expect(reply).toContain('Ordering: no');
    expect(reply).toContain(`Nonce: ${nonce}`);
    expect(reply).toContain('TSA: DirName:/O=Strongroom/OU=Time Stamping Authority');
    expect(reply).toMatch(/Time stamp: \w{3} +\d+ \d\d:\d\d:\d\d(\.\d+)? \d{4} GMT/);
    expect(verify(['-queryfile', q, '-in', r, '-untrusted', 'issuing.pem'])).toContain('Verification: OK');
  });

  it('accepts SHA-512 imprints', async () => {
    const { q, r } = await stamp(['-sha512', '-cert']);
    expect(verify(['-queryfile', q, '-in', r, '-untrusted', 'issuing.pem'])).toContain('Verification: OK');
  });

  it('records every token: serial, imprint, time, policy, nonce and the token itself', async () => {
    const { q, answer } = await stamp(['-sha256', '-cert']);
    const g = answer.granted!;
    const row = await store.bySerial(g.serial);
    const req = AsnConvert.parse(readFileSync(join(chain.dir, q)), TimeStampReq);
    expect(row).toMatchObject({ serial: g.serial, policy: POLICY, hashAlgorithm: 'sha256', tsaCertSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(row!.genTime.getTime()).toBe(g.genTime.getTime());
    expect(Buffer.from(row!.imprint)).toEqual(Buffer.from(req.messageImprint.hashedMessage.buffer));
    expect(Buffer.from(row!.nonce!)).toEqual(Buffer.from(req.nonce!));
    // The token as returned, less the (unsigned) certificates field.
    expect(row!.tokenDer.length).toBeLessThan(g.tokenDer.length - creds.certificateDer.length);
    const withoutCert = Buffer.from(g.tokenDer);
    expect(withoutCert.indexOf(Buffer.from(creds.certificateDer))).toBeGreaterThan(0);
    writeFileSync(join(chain.dir, 'rec.tok'), row!.tokenDer);
    expect(verify(['-queryfile', q, '-in', 'rec.tok', '-token_in', '-untrusted', 'issuing+tsa.pem'])).toContain('Verification: OK');
  });

  it('gives unique serials to concurrent requests', async () => {
    const der = AsnConvert.serialize(request({}));
    const answers = await Promise.all(Array.from({ length: 40 }, () => tsa.respond(new Uint8Array(der))));
    const serials = answers.map((a) => a.granted!.serial);
    expect(new Set(serials).size).toBe(40);
  });
});

function request(p: { alg?: string; params?: ArrayBuffer | null; digest?: Uint8Array; policy?: string; extensions?: Extensions; version?: number }): TimeStampReq {
  return new TimeStampReq({
    version: p.version ?? 1,
    messageImprint: new MessageImprint({
      hashAlgorithm: new AlgorithmIdentifier({ algorithm: p.alg ?? '2.16.840.1.101.3.4.2.1', ...(p.params !== undefined ? { parameters: p.params } : {}) }),
      hashedMessage: new OctetString(p.digest ?? new Uint8Array(32).fill(7)),
    }),
    ...(p.policy ? { reqPolicy: p.policy } : {}),
    ...(p.extensions ? { extensions: p.extensions } : {}),
  });
}

describe('TSA refusals', () => {
  async function refusal(der: Uint8Array | ArrayBuffer) {
    const signs = pool.signs;
    const answer = await tsa.respond(new Uint8Array(der));
    expect(pool.signs).toBe(signs);
    const resp = parseResp(answer.der);
    expect(resp.status.status).toBe(PKIStatus.rejection);
    expect(resp.timeStampToken).toBeUndefined();
    return { answer, failInfo: failInfoNames(resp) };
  }

  it('SHA-1 and MD5 imprints from openssl → badAlg', async () => {
    for (const alg of ['-sha1', '-md5']) {
      const { answer } = await stamp([alg]);
      expect(answer.failInfo).toBe('badAlg');
      expect(failInfoNames(parseResp(answer.der))).toEqual(['badAlg']);
      expect(openssl(chain.dir, ['ts', '-reply', '-in', `r${n}.tsr`, '-text'])).toMatch(/Status: Rejected.[\s\S]*Failure info:\s*unrecognized or unsupported algorithm identifier/);
    }
  });

  it('hash parameters other than NULL → badAlg', async () => {
    expect((await refusal(AsnConvert.serialize(request({ params: Uint8Array.of(0x02, 0x01, 0x01).buffer })))).failInfo).toEqual(['badAlg']);
  });

  it('an imprint whose length does not match its algorithm → badDataFormat', async () => {
    expect((await refusal(AsnConvert.serialize(request({ digest: new Uint8Array(20) })))).failInfo).toEqual(['badDataFormat']);
    expect((await refusal(AsnConvert.serialize(request({ alg: '2.16.840.1.101.3.4.2.3', digest: new Uint8Array(48) })))).failInfo).toEqual(['badDataFormat']);
  });

  it('a policy we do not offer → unacceptedPolicy', async () => {
    expect((await refusal(AsnConvert.serialize(request({ policy: '1.2.3.4.5' })))).failInfo).toEqual(['unacceptedPolicy']);
  });

  it('an extension → unacceptedExtension', async () => {
    const extensions = new Extensions([new Extension({ extnID: '1.2.3.4', critical: false, extnValue: new OctetString(Uint8Array.of(5, 0)) })]);
    expect((await refusal(AsnConvert.serialize(request({ extensions })))).failInfo).toEqual(['unacceptedExtension']);
  });

  it('version 2 → badRequest; garbage, trailing bytes, empty → badDataFormat', async () => {
    expect((await refusal(AsnConvert.serialize(request({ version: 2 })))).failInfo).toEqual(['badRequest']);
    const good = new Uint8Array(AsnConvert.serialize(request({})));
    for (const bad of [Buffer.from('hello'), Buffer.concat([good, Uint8Array.of(0)]), new Uint8Array(0), good.subarray(0, good.length - 1)]) {
      expect((await refusal(bad)).failInfo).toEqual(['badDataFormat']);
    }
  });

  it('a clock known to be out of tolerance → timeNotAvailable, no serial used', async () => {
    clockOk = false;
    try {
      const { answer } = await refusal(AsnConvert.serialize(request({})));
      expect(answer.failInfo).toBe('timeNotAvailable');
      expect(answer.httpStatus).toBe(200);
    } finally {
      clockOk = true;
    }
  });
});
