// Live answers (nonces) for one serial that miss the status cache together share one database read; once a
// revocation is seen, the next request reads again rather than answer from a read that began before it.
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPResponse } from '@peculiar/asn1-ocsp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OcspStore } from '../../ocsp/db/ocsp-store.ts';
import { issuerHashes } from '../../ocsp/encoding/index.ts';
import { ensureResponder, issue, opensslCsr, startTestCa, type TestCa } from '../http/fixture.ts';
import { certId, nonceExtension, request, serialContents } from './encoding/library.ts';

/** The certStatus of the only SingleResponse, by the ASN.1 library's parser. */
function certStatus(der: Uint8Array): string {
  const response = AsnConvert.parse(der, OCSPResponse);
  const basic = AsnConvert.parse(response.responseBytes!.response.buffer, BasicOCSPResponse);
  const [single] = basic.tbsResponseData.responses;
  const s = single!.certStatus;
  return s.good !== undefined ? 'good' : s.revoked !== undefined ? 'revoked' : 'unknown';
}

const realStatus = OcspStore.prototype.status;

describe('status reads of live answers', () => {
  let t: TestCa;
  let token: string;
  const status = vi.spyOn(OcspStore.prototype, 'status');

  const liveRequest = (serial: string, n: number) => {
    const h = issuerHashes(t.chain.issuingDer).sha1;
    const nonce = Uint8Array.from({ length: 16 }, (_, i) => (n * 31 + i) & 0xff);
    return request({ certIds: [certId({ nameHash: h.name, keyHash: h.key, serial: serialContents(serial) })], extensions: [nonceExtension(nonce)] });
  };
  const readsOf = (serial: string) => status.mock.calls.filter(([, s]) => s === serial).length;
  const issueOne = async (name: string) => {
    const r = await issue(t, token, { csr: opensslCsr(t.chain.dir, name, { san: `DNS:${name}.svc.internal` }), profile: 'tls-server' });
    expect(r.status).toBe(201);
    return r.body.serial as string;
  };

  beforeAll(async () => {
    t = await startTestCa('status-reads', { config: { ocsp: { presignMs: 0 } } });
    await ensureResponder(t);
    token = await t.client('reads', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
  }, 120_000);
  afterAll(async () => {
    status.mockRestore();
    await t?.close();
  });

  it('twenty concurrent nonce requests for a serial not yet cached read its status once, and all answer good', async () => {
    const serial = await issueOne('shared');
    status.mockClear();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => t.ca.ocsp!.responder.respond(liveRequest(serial, i))));
    expect(readsOf(serial)).toBe(1);
    for (const a of answers) {
      expect(a.source).toBe('live');
      expect(certStatus(a.der)).toBe('good');
    }
  });

  it('after a revocation is seen (the status forgotten), a request reads again rather than join a read that began before', async () => {
    const serial = await issueOne('forgotten-meanwhile');
    status.mockClear();
    // Hold the first read open.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    status.mockImplementationOnce(async function (this: OcspStore, ...args: Parameters<OcspStore['status']>) {
      await gate;
      return realStatus.apply(this, args);
    });
    const before = t.ca.ocsp!.responder.respond(liveRequest(serial, 100));
    await vi.waitFor(() => expect(readsOf(serial)).toBe(1));
    // What sync() does when another process has revoked it: the status is forgotten, nothing is put in its place.
    const responder = t.ca.ocsp!.responder as unknown as { statuses: { forget(key: string): void } };
    responder.statuses.forget(`${t.ca.issuers.active()!.row.id}:${serial}`);
    // Answered while the first read is still held: it read for itself.
    const after = await Promise.race([
      t.ca.ocsp!.responder.respond(liveRequest(serial, 101)),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the request joined the read held open')), 5000)),
    ]);
    expect(after.source).toBe('live');
    expect(readsOf(serial)).toBe(2);
    release();
    expect(certStatus((await before).der)).toBe('good');
  });
});
