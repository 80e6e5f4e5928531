// The responder's pre-signing passes: the first sweeps every unexpired certificate, the ones after look only past
// the watermark (and at refreshes and revocations) — a certificate issued meanwhile is still pre-signed — and a
// sweep comes round again every presignSweepMs.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OcspStore } from '../../ocsp/db/ocsp-store.ts';
import { ensureResponder, issue, opensslCsr, startTestCa, type TestCa } from '../http/fixture.ts';

describe('pre-signing passes', () => {
  let t: TestCa;
  let token: string;
  const due = vi.spyOn(OcspStore.prototype, 'due');
  const dueSince = vi.spyOn(OcspStore.prototype, 'dueSince');

  // The schedule is off (presignMs 0): the test runs the passes.
  const drain = async () => {
    for (let n = await t.ca.ocsp!.responder.presignDue(500); n > 0; n = await t.ca.ocsp!.responder.presignDue(500));
  };
  const answered = async (serial: string) =>
    Number(((await t.db.knex('ocsp_responses as o').join('certificates as c', 'c.id', 'o.certificate_id').where({ 'c.serial': serial, 'o.hash_algorithm': 'sha1' }).count('* as n')) as { n: string | number }[])[0]!.n);
  const issueOne = async (name: string) => {
    const r = await issue(t, token, { csr: opensslCsr(t.chain.dir, name, { san: `DNS:${name}.svc.internal` }), profile: 'tls-server' });
    expect(r.status).toBe(201);
    return r.body.serial as string;
  };

  beforeAll(async () => {
    t = await startTestCa('presign-passes', { config: { ocsp: { presignMs: 0, presignSweepMs: 1000 } } });
    await ensureResponder(t);
    token = await t.client('passes', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
  }, 120_000);
  afterAll(async () => {
    due.mockRestore();
    dueSince.mockRestore();
    await t?.close();
  });

  it('the first pass sweeps; later passes do not, yet pre-sign what was issued meanwhile; a sweep comes round again', async () => {
    const first = await issueOne('first');
    await drain();
    expect(due).toHaveBeenCalled();
    expect(await answered(first)).toBe(1);

    due.mockClear();
    dueSince.mockClear();
    const second = await issueOne('second');
    await drain();
    expect(await answered(second)).toBe(1);
    expect(dueSince).toHaveBeenCalled();
    expect(due).not.toHaveBeenCalled();

    await new Promise((r) => setTimeout(r, 1100));
    await drain();
    expect(due).toHaveBeenCalled();
  });
});
