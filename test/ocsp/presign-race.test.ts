// A pre-signing pass and a request that misses can sign the same serial's answer at once. The request's answer,
// kept in memory and returned first, stays: the same GET repeated a moment later gets the same bytes (and ETag).
// The pass used to put its own answer over it, so a client (or CDN) saw two different answers within a second; and
// once the pass had stored its answer, picking up the database's changes (sync) put it over the kept one all the same.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OcspStore } from '../../ocsp/db/ocsp-store.ts';
import { issuerHashes } from '../../ocsp/encoding/index.ts';
import { OcspResponder } from '../../ocsp/ocsp-responder.ts';
import { ensureResponder, issue, opensslCsr, startTestCa, type TestCa } from '../http/fixture.ts';
import { certId, request, serialContents } from './encoding/library.ts';

const realSave = OcspStore.prototype.save;

describe('a pre-signing pass racing a request that misses', () => {
  let t: TestCa;
  let token: string;
  const save = vi.spyOn(OcspStore.prototype, 'save');

  beforeAll(async () => {
    // No scheduled passes: the test runs the one pass itself.
    t = await startTestCa('presign-race', { config: { ocsp: { presignMs: 0 } } });
    await ensureResponder(t);
    token = await t.client('race', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
  }, 120_000);
  afterAll(async () => {
    save.mockRestore();
    await t?.close();
  });

  const issueSerial = async (name: string) => {
    const r = await issue(t, token, { csr: opensslCsr(t.chain.dir, name, { san: `DNS:${name}.svc.internal` }), profile: 'tls-server' });
    expect(r.status).toBe(201);
    return r.body.serial as string;
  };
  /** A request for one serial's answer, SHA-1 CertID, no nonce. */
  const cachedRequest = (serial: string) => {
    const h = issuerHashes(t.chain.issuingDer).sha1;
    return request({ certIds: [certId({ nameHash: h.name, keyHash: h.key, serial: serialContents(serial) })] });
  };
  const storedAnswer = async (serial: string) => (await new OcspStore(t.db.knex).storedMany(1, 'sha1', [serial]))[0];

  it("keeps the request's answer in memory: the next request gets the same bytes", async () => {
    const serial = await issueSerial('race');
    const der = cachedRequest(serial);
    const responder = t.ca.ocsp!.responder;

    // The pass signs the serial's answer, then is held before it stores and keeps it.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let passSaved: string[] = [];
    save.mockImplementationOnce(async function (this: OcspStore, ...args: Parameters<OcspStore['save']>) {
      passSaved = args[0].map((a) => Buffer.from(a.der).toString('hex'));
      await gate;
      return realSave.apply(this, args);
    });
    const pass = responder.presignDue();
    await vi.waitFor(() => expect(passSaved.length).toBeGreaterThan(0));

    // Meanwhile a request misses (nothing stored yet), signs live and keeps its answer.
    const first = await responder.respond(der);
    expect(first.source).toBe('stored'); // not from memory: loaded, and with nothing in the database, signed
    expect(passSaved).not.toContain(Buffer.from(first.der).toString('hex'));
    // The request stores its answer in the background; the race this test is about has the pass's land after it.
    // Released before that store lands, the two writes race on two connections and either may win.
    await vi.waitFor(async () => {
      const stored = await storedAnswer(serial);
      expect(Buffer.from(stored!.der).equals(Buffer.from(first.der))).toBe(true);
    });

    release();
    await pass;
    const again = await responder.respond(der);
    expect(again.source).toBe('memory');
    expect(Buffer.from(again.der).equals(Buffer.from(first.der))).toBe(true);

    // The pass's answer reached the database after the request's: picking up the database's changes (sync, every
    // ocsp.syncMs) must not put it over the kept one either — it says the same, and is no newer.
    await vi.waitFor(async () => {
      const stored = await storedAnswer(serial);
      expect(passSaved).toContain(Buffer.from(stored!.der).toString('hex'));
    });
    await responder.sync();
    const afterSync = await responder.respond(der);
    expect(afterSync.source).toBe('memory');
    expect(Buffer.from(afterSync.der).equals(Buffer.from(first.der))).toBe(true);
  });

  it("takes another process's newer answer of the same status only once its own has reached the refresh point", async () => {
    const serial = await issueSerial('refresh-point');
    const der = cachedRequest(serial);
    await t.ca.ocsp!.responder.respond(der);
    const store = new OcspStore(t.db.knex);
    const caId = t.ca.issuers.active()!.row.id;
    await vi.waitFor(async () => expect(await store.storedMany(caId, 'sha1', [serial])).toHaveLength(1));
    const [first] = await store.storedMany(caId, 'sha1', [serial]);

    // A responder of another process (cold, no HSM), on a clock the test moves.
    let now = new Date(first!.thisUpdate.getTime() + 5_000);
    const other = new OcspResponder({ store, clock: () => now });
    await other.reload();
    expect(Buffer.from((await other.respond(der)).der).equals(Buffer.from(first!.der))).toBe(true);
    // What a racing pre-signing pass (or another responder) stores: the same status, signed a minute later.
    const later = (minutes: number, mark: number) => {
      const bytes = Uint8Array.from(first!.der);
      bytes[bytes.length - 1] = mark;
      const thisUpdate = new Date(first!.thisUpdate.getTime() + minutes * 60_000);
      return { ...first!, der: bytes, producedAt: thisUpdate, thisUpdate, nextUpdate: new Date(first!.nextUpdate.getTime() + minutes * 60_000) };
    };
    await realSave.call(store, [later(1, 0xa1)]);
    await other.sync();
    expect(Buffer.from((await other.respond(der)).der).equals(Buffer.from(first!.der))).toBe(true);

    // Past the refresh point of the answer it holds (half its window by default), a newer answer replaces it.
    now = new Date(first!.thisUpdate.getTime() + (first!.nextUpdate.getTime() - first!.thisUpdate.getTime()) * 0.6);
    const refreshed = later(2, 0xa2);
    await realSave.call(store, [refreshed]);
    await other.sync();
    expect(Buffer.from((await other.respond(der)).der).equals(Buffer.from(refreshed.der))).toBe(true);
  });

  it("keeps a request's answer when a good answer of another serial arrives from the database meanwhile", async () => {
    const serial = await issueSerial('kept-a');
    const other = await issueSerial('kept-b');
    const store = new OcspStore(t.db.knex);
    const caId = t.ca.issuers.active()!.row.id;
    const responder = t.ca.ocsp!.responder;
    // The other serial's answer, signed and stored (as a pass, or a request, of any process would).
    await responder.respond(cachedRequest(other));
    await vi.waitFor(async () => expect(await store.storedMany(caId, 'sha1', [other])).toHaveLength(1));
    const [otherRow] = await store.storedMany(caId, 'sha1', [other]);

    // The request's read of the database is held while the responder picks up a change to the other serial.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const storedMany = vi.spyOn(OcspStore.prototype, 'storedMany');
    const realStoredMany = storedMany.getMockImplementation() ?? OcspStore.prototype.storedMany;
    storedMany.mockImplementationOnce(async function (this: OcspStore, ...args: Parameters<OcspStore['storedMany']>) {
      await gate;
      return realStoredMany.apply(this, args);
    });
    try {
      const first = responder.respond(cachedRequest(serial));
      await vi.waitFor(() => expect(storedMany).toHaveBeenCalled());
      await realSave.call(store, [{ ...otherRow!, producedAt: new Date(), thisUpdate: new Date(otherRow!.thisUpdate.getTime() + 1000) }]);
      await responder.sync();
      release();
      const answer = await first;
      const again = await responder.respond(cachedRequest(serial));
      expect(again.source).toBe('memory');
      expect(Buffer.from(again.der).equals(Buffer.from(answer.der))).toBe(true);
    } finally {
      storedMany.mockRestore();
    }
  });
});
