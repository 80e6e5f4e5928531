// Pre-signed answers that miss memory are read from the database a turn's worth at a time: one query per issuer and
// hash algorithm, not one per request (ocsp/stored-reads.ts).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OcspStore, type HashAlgorithm, type StoredResponse } from '../../ocsp/db/ocsp-store.ts';
import { issuerHashes, OCSP_TRY_LATER } from '../../ocsp/encoding/index.ts';
import { OcspResponder } from '../../ocsp/ocsp-responder.ts';
import { StoredReads } from '../../ocsp/stored-reads.ts';
import { ensureResponder, issue, opensslCsr, startTestCa, type TestCa } from '../http/fixture.ts';
import { certId, request, serialContents, SHA1, SHA256 } from './encoding/library.ts';

const row = (caId: number, serial: string, alg: HashAlgorithm): StoredResponse => ({
  certificateId: 1,
  caId,
  serial,
  hashAlgorithm: alg,
  certStatus: 'good',
  der: Uint8Array.of(caId, serial.length),
  producedAt: new Date(0),
  thisUpdate: new Date(0),
  nextUpdate: new Date(0),
  refreshAt: new Date(0),
  responderId: 1,
  revision: 1n,
});

describe('StoredReads', () => {
  /** A read that has a row for every serial except those starting with "none", and fails for caId 9. */
  const recording = () => {
    const calls: { caId: number; alg: HashAlgorithm; serials: string[] }[] = [];
    const read = async (caId: number, alg: HashAlgorithm, serials: readonly string[]) => {
      calls.push({ caId, alg, serials: [...serials] });
      if (caId === 9) throw new Error('database down');
      return serials.filter((s) => !s.startsWith('none')).map((s) => row(caId, s, alg));
    };
    return { calls, read };
  };

  const cases: { name: string; asks: [number, string, HashAlgorithm][]; maxBatch?: number; queries: { caId: number; alg: HashAlgorithm; serials: string[] }[] }[] = [
    { name: 'one serial: one query', asks: [[1, 'a1', 'sha1']], queries: [{ caId: 1, alg: 'sha1', serials: ['a1'] }] },
    {
      name: 'several serials of one issuer and algorithm: one query',
      asks: [
        [1, 'a1', 'sha1'],
        [1, 'a2', 'sha1'],
        [1, 'none3', 'sha1'],
      ],
      queries: [{ caId: 1, alg: 'sha1', serials: ['a1', 'a2', 'none3'] }],
    },
    {
      name: 'the same serial asked twice: asked for once',
      asks: [
        [1, 'a1', 'sha1'],
        [1, 'a1', 'sha1'],
      ],
      queries: [{ caId: 1, alg: 'sha1', serials: ['a1'] }],
    },
    {
      name: 'two issuers and two algorithms: a query for each pair',
      asks: [
        [1, 'a1', 'sha1'],
        [2, 'b1', 'sha1'],
        [1, 'a2', 'sha256'],
        [1, 'a3', 'sha1'],
      ],
      queries: [
        { caId: 1, alg: 'sha1', serials: ['a1', 'a3'] },
        { caId: 2, alg: 'sha1', serials: ['b1'] },
        { caId: 1, alg: 'sha256', serials: ['a2'] },
      ],
    },
    {
      name: 'more serials than a batch: split',
      maxBatch: 2,
      asks: [
        [1, 'a1', 'sha1'],
        [1, 'a2', 'sha1'],
        [1, 'a3', 'sha1'],
      ],
      queries: [
        { caId: 1, alg: 'sha1', serials: ['a1', 'a2'] },
        { caId: 1, alg: 'sha1', serials: ['a3'] },
      ],
    },
  ];

  it.each(cases)('$name', async ({ asks, maxBatch, queries }) => {
    const { calls, read } = recording();
    const reads = new StoredReads(read, maxBatch);
    const answers = await Promise.all(asks.map(([caId, serial, alg]) => reads.get(caId, serial, alg)));
    expect(calls).toEqual(queries);
    asks.forEach(([caId, serial, alg], i) => expect(answers[i]).toEqual(serial.startsWith('none') ? undefined : row(caId, serial, alg)));
  });

  it('asks separated only by microtasks share a query (Node drains microtasks between the I/O callbacks of one turn)', async () => {
    const { calls, read } = recording();
    const reads = new StoredReads(read);
    const first = reads.get(1, 'a1', 'sha1');
    await Promise.resolve();
    await Promise.resolve();
    const second = reads.get(1, 'a2', 'sha1');
    await Promise.all([first, second]);
    expect(calls.map((c) => c.serials)).toEqual([['a1', 'a2']]);
  });

  it('a read that throws at once rejects its callers (it runs in a setImmediate callback)', async () => {
    const reads = new StoredReads(() => {
      throw new Error('no connection');
    });
    await expect(reads.get(1, 'a1', 'sha1')).rejects.toThrow('no connection');
  });

  it('asks made in different turns go in different queries', async () => {
    const { calls, read } = recording();
    const reads = new StoredReads(read);
    await reads.get(1, 'a1', 'sha1');
    await reads.get(1, 'a2', 'sha1');
    expect(calls.map((c) => c.serials)).toEqual([['a1'], ['a2']]);
  });

  it("a failed query rejects its own callers only, and the next turn's asks query again", async () => {
    const { calls, read } = recording();
    const reads = new StoredReads(read);
    const [failed, fine] = await Promise.allSettled([reads.get(9, 'x1', 'sha1'), reads.get(1, 'a1', 'sha1')]);
    expect(failed).toMatchObject({ status: 'rejected', reason: new Error('database down') });
    expect(fine).toEqual({ status: 'fulfilled', value: row(1, 'a1', 'sha1') });
    expect(await reads.get(1, 'a2', 'sha1')).toEqual(row(1, 'a2', 'sha1'));
    expect(calls).toHaveLength(3);
  });
});

describe('a responder whose memory does not hold the answers asked for', () => {
  let t: TestCa;
  let token: string;
  const storedMany = vi.spyOn(OcspStore.prototype, 'storedMany');

  beforeAll(async () => {
    t = await startTestCa('stored-reads', { config: { ocsp: { presignMs: 0 } } });
    await ensureResponder(t);
    token = await t.client('reads', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
  }, 120_000);
  afterAll(async () => {
    storedMany.mockRestore();
    await t?.close();
  });

  const cachedRequest = (serial: string, alg: HashAlgorithm = 'sha1') => {
    const h = issuerHashes(t.chain.issuingDer)[alg];
    return request({ certIds: [certId({ hash: alg === 'sha1' ? SHA1 : SHA256, nameHash: h.name, keyHash: h.key, serial: serialContents(serial) })] });
  };

  it('reads the answers of requests that arrive together in one query per algorithm, and answers each its own', async () => {
    const serials: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await issue(t, token, { csr: opensslCsr(t.chain.dir, `many-${i}`, { san: `DNS:many-${i}.svc.internal` }), profile: 'tls-server' });
      expect(r.status).toBe(201);
      serials.push(r.body.serial as string);
    }
    // Signed once by the CA's own responder, which stores each answer in the background.
    for (const s of serials) await t.ca.ocsp!.responder.respond(cachedRequest(s));
    const store = new OcspStore(t.db.knex);
    const caId = t.ca.issuers.active()!.row.id;
    await vi.waitFor(async () => expect(await store.storedMany(caId, 'sha1', serials)).toHaveLength(6));
    const stored = new Map((await store.storedMany(caId, 'sha1', serials)).map((r) => [r.serial, Buffer.from(r.der)]));

    // A responder that starts cold and cannot sign (no HSM pool): it serves what the database holds.
    const cold = new OcspResponder({ store });
    await cold.reload();
    storedMany.mockClear();
    const sha256Serial = serials[0]!; // no sha256 answer stored for it: tryLater, since this responder cannot sign
    const answers = await Promise.all([...serials.map((s) => cold.respond(cachedRequest(s))), cold.respond(cachedRequest(sha256Serial, 'sha256'))]);

    expect(storedMany.mock.calls.map(([id, alg, asked]) => [id, alg, [...asked].sort()])).toEqual([
      [caId, 'sha1', [...serials].sort()],
      [caId, 'sha256', [sha256Serial]],
    ]);
    serials.forEach((s, i) => {
      expect(answers[i]!.source).toBe('stored');
      expect(Buffer.from(answers[i]!.der).equals(stored.get(s)!)).toBe(true);
    });
    expect(Buffer.from(answers[6]!.der).equals(Buffer.from(OCSP_TRY_LATER))).toBe(true);
  });

  it('a failed read answers tryLater to the requests of its batch, and the next request reads again', async () => {
    const r = await issue(t, token, { csr: opensslCsr(t.chain.dir, 'flaky', { san: 'DNS:flaky.svc.internal' }), profile: 'tls-server' });
    const serial = r.body.serial as string;
    await t.ca.ocsp!.responder.respond(cachedRequest(serial));
    const store = new OcspStore(t.db.knex);
    await vi.waitFor(async () => expect(await store.storedMany(t.ca.issuers.active()!.row.id, 'sha1', [serial])).toHaveLength(1));
    const cold = new OcspResponder({ store });
    await cold.reload();
    storedMany.mockRejectedValueOnce(new Error('connection reset'));
    const failed = await cold.respond(cachedRequest(serial));
    expect(Buffer.from(failed.der).equals(Buffer.from(OCSP_TRY_LATER))).toBe(true);
    const again = await cold.respond(cachedRequest(serial));
    expect(again.source).toBe('stored');
  });
});
