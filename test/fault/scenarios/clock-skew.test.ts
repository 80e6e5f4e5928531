/**
 * faults.md Scenarios: "clock skewed beyond tolerance" → the TSA answers timeNotAvailable; no thisUpdate in the
 * future. The CA (TSA enabled; its clock, and the CA's for CRL and OCSP signing, checked against the database's every
 * second, tolerance 5 s) runs in this
 * process with an injected clock that the test moves 5 minutes ahead and back; "the future" is judged by the real
 * clock (this process's Date.now(), which the skew does not touch, and the database's now()). Then the invariants.
 */
import { X509Certificate } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { MessageImprint, TimeStampReq } from '@peculiar/asn1-tsp';
import { AlgorithmIdentifier, CertificateList } from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postTsa, startTsaServer, type TsaServer } from '../../tsa/server.ts';
import { failInfoNames, statusOf } from '../../tsa/support.ts';
import { revokedSerials } from '../../http/crl-support.ts';
import { FaultLedger, normalSerial, pemToDer } from '../invariants.ts';
import { csrFor, fetchCrl, GRANTS, issueRecorded, ocspAsk, presignNow, revoke, sleep, waitFor, waitForCrlNumber } from './support.ts';

const SKEW_MS = 5 * 60_000;
/** What "in the future" allows for: whole-second rounding and the time between signing and looking. */
const SLACK_MS = 2000;
// Far below the 5-minute skew, and wide enough that a database round trip slowed by a loaded CI machine (the check
// adds half of it to the drift) does not fail the check once the clock is right again.
const CHECK_TOLERANCE_MS = 5000;

let offset = 0;
const clock = () => new Date(Date.now() + offset);
let s: TsaServer;
let token: string;
let admin: string;
const ledger = new FaultLedger();
let n = 0;
const next = (what: string) => csrFor(`${what}-${++n}`);

const tsaRequest = () =>
  new Uint8Array(
    AsnConvert.serialize(
      new TimeStampReq({ certReq: true, messageImprint: new MessageImprint({ hashAlgorithm: new AlgorithmIdentifier({ algorithm: '2.16.840.1.101.3.4.2.1' }), hashedMessage: new OctetString(new Uint8Array(32).fill(7)) }) }),
    ),
  );

const thisUpdateOfCrl = (der: Uint8Array) => AsnConvert.parse(der, CertificateList).tbsCertList.thisUpdate.getTime().getTime();

async function databaseNow(): Promise<number> {
  const r = (await s.db.knex.raw('select now() as now')) as { rows: { now: Date }[] };
  return new Date(r.rows[0]!.now).getTime();
}

beforeAll(async () => {
  s = await startTsaServer('fault-clock', { clock, tsa: { clock: { check: 'database', toleranceMs: CHECK_TOLERANCE_MS, intervalMs: 1000 } }, config: { clock: { check: 'database', toleranceMs: CHECK_TOLERANCE_MS, intervalMs: 1000 }, crl: { debounceMs: 200, retryMs: 500 } } });
  token = (await s.ca.clients.add({ name: 'svc', grants: GRANTS }, 'test')).token;
  admin = (await s.ca.clients.add({ name: 'ops', grants: { ...GRANTS, admin: true } }, 'test')).token;
  await waitForCrlNumber(s.url, ledger, 1n);
  await ledger.check(s.db.knex, 'baseline');
}, 120_000);

afterAll(async () => {
  offset = 0;
  await s?.close();
});

describe('clock skewed beyond tolerance', () => {
  let serial: string;

  it('the TSA answers timeNotAvailable while the clock is off, and grants again once it is right', async () => {
    const r0 = await postTsa(s.url, tsaRequest());
    expect(r0.status).toBe(200);
    expect(statusOf(r0.body)).toBe(0);
    const a = await issueRecorded(s.url, token, ledger, next('skew'));
    expect(a.status).toBe(201);
    serial = a.body.serial;
    await presignNow({ ca: s.ca } as Parameters<typeof presignNow>[0]);

    offset = SKEW_MS;
    const refused = await waitFor(async () => {
      const r = await postTsa(s.url, tsaRequest());
      return r.status === 200 && failInfoNames(r.body).includes('timeNotAvailable') ? r : undefined;
    }, 10_000, 'timeNotAvailable from the TSA');
    expect(statusOf(refused.value.body)).toBe(2); // rejection
    expect(failInfoNames(refused.value.body)).toEqual(['timeNotAvailable']);
    // And it stays refused while the clock is off.
    await sleep(1500);
    expect(failInfoNames((await postTsa(s.url, tsaRequest())).body)).toEqual(['timeNotAvailable']);

    offset = 0;
    await waitFor(async () => statusOf((await postTsa(s.url, tsaRequest())).body) === 0, 10_000, 'the TSA granting again');
    console.log(`clock skew: timeNotAvailable ${refused.ms.toFixed(0)} ms after the clock moved ${SKEW_MS / 1000} s ahead`);
    await ledger.check(s.db.knex, 'clock skew: TSA');
  }, 60_000);

  /** What the CA signed while its clock was off, and the real time then. */
  let signed: { realNow: number; crl: number; ocsp?: number; live?: number } | undefined;

  it('while the clock is off: a revocation is recorded and never answered good; CRL and OCSP catch up once the clock is right', async () => {
    const crlBefore = (await fetchCrl(s.url, ledger)).number!;
    offset = SKEW_MS;
    try {
      await waitFor(async () => failInfoNames((await postTsa(s.url, tsaRequest())).body).includes('timeNotAvailable'), 10_000, 'the clock check failing');
      // The CA's own check (CRL and OCSP signing) runs on its own schedule: wait until a live answer is refused too.
      await waitFor(async () => (await ocspAsk(s.url, s.chain.issuingDer, serial, { nonce: true })).responseStatus === 3, 10_000, "the CA's clock check failing");
      // A revocation wants a new CRL and a re-signed OCSP answer; a nonce wants a live OCSP answer. The CA's clock
      // check fails too (ca/server/clock-gated-pool.ts), so it signs neither: the published CRL stays with its number,
      // and OCSP answers tryLater — the revoked serial is never answered good.
      expect((await revoke(s.url, admin, serial, 'superseded')).status).toBe(200);
      await sleep(1500); // debounce 200 ms, retries every 500 ms: what gets published meanwhile is published by now
      const crl = await fetchCrl(s.url, ledger);
      expect(crl.status).toBe(200);
      expect(crl.number, 'no CRL published while the clock is off').toBe(crlBefore);
      const ocsp = await ocspAsk(s.url, s.chain.issuingDer, serial);
      const live = await ocspAsk(s.url, s.chain.issuingDer, serial, { nonce: true });
      for (const a of [ocsp, live]) {
        expect(a.httpStatus).toBe(200);
        expect(a.responseStatus, 'tryLater while the clock is off').toBe(3);
      }
      // Not in the scenario's list, but the same clock: a certificate issued now starts in the future too.
      const during = await issueRecorded(s.url, token, ledger, next('skew-issued'));
      expect(during.status).toBe(201);
      const notBefore = new Date(new X509Certificate(Buffer.from(pemToDer(during.body.certificate))).validFrom).getTime();
      const realNow = Math.min(Date.now(), await databaseNow());
      signed = { realNow, crl: thisUpdateOfCrl(crl.der!), ...(ocsp.thisUpdate ? { ocsp: ocsp.thisUpdate.getTime() } : {}), ...(live.thisUpdate ? { live: live.thisUpdate.getTime() } : {}) };
      const ahead = (at: number | undefined) => (at === undefined ? 'nothing signed' : `${Math.round((at - realNow) / 1000)} s`);
      console.log(
        `clock skew +${SKEW_MS / 1000} s, ahead of the real time: CRL ${crl.number} (was ${crlBefore}) thisUpdate ${ahead(signed.crl)}; OCSP ${ocsp.certStatus ?? `status ${ocsp.responseStatus}`} ${ahead(signed.ocsp)}; ` +
          `live OCSP ${live.certStatus ?? `status ${live.responseStatus}`} ${ahead(signed.live)}; a certificate issued meanwhile: notBefore ${ahead(notBefore)}`,
      );
    } finally {
      offset = 0;
    }
    // The clock is right again: the revocation is on a CRL with the next number, and OCSP says revoked.
    const crl = await waitForCrlNumber(s.url, ledger, crlBefore + 1n);
    expect(revokedSerials(crl)).toContain(normalSerial(serial));
    let lastLive: unknown;
    await waitFor(
      async () => {
        const a = await ocspAsk(s.url, s.chain.issuingDer, serial, { nonce: true });
        lastLive = { httpStatus: a.httpStatus, responseStatus: a.responseStatus, certStatus: a.certStatus };
        return a.certStatus === 'revoked';
      },
      15_000,
      'OCSP revoked once the clock is right',
    ).catch((e: unknown) => {
      // Which answer kept coming says where it stuck (tryLater: the clock gate; good: a lost revocation).
      throw new Error(`${(e as Error).message}; last live answer ${JSON.stringify(lastLive)}`);
    });
    await ledger.check(s.db.knex, 'clock skew: signing while off');
  }, 60_000);

  // Judged on what was signed while the clock was off (nothing, with the clock check gating CRL and OCSP signing).
  it('no thisUpdate in the future (CRL, stored and live OCSP answers signed while the clock was off)', () => {
    expect(signed, 'the previous test gathered what was signed').toBeDefined();
    const { realNow, crl, ocsp, live } = signed!;
    expect(crl, 'CRL thisUpdate').toBeLessThanOrEqual(realNow + SLACK_MS);
    if (ocsp !== undefined) expect(ocsp, 'OCSP thisUpdate').toBeLessThanOrEqual(realNow + SLACK_MS);
    if (live !== undefined) expect(live, 'live OCSP thisUpdate').toBeLessThanOrEqual(realNow + SLACK_MS);
  });
});
