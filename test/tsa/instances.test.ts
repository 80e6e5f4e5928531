// Serials across concurrent instances and restarts; the clock checks that make the TSA answer timeNotAvailable;
// the TSA signing with the CA's own service certificate.
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { MessageImprint, TimeStampReq, TimeStampResp, TSTInfo } from '@peculiar/asn1-tsp';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { ContentInfo, SignedData } from '@peculiar/asn1-cms';
import { describe, expect, it } from 'vitest';
import { ClockMonitor, driftCheck, timedatectlCheck } from '../../ca/clock/clock-check.ts';
import { issuerInfo } from '../../ca/x509/index.ts';
import { postTsa, startTsaServer } from './server.ts';
import { failInfoNames } from './support.ts';

const request = () => new Uint8Array(AsnConvert.serialize(new TimeStampReq({ certReq: true, messageImprint: new MessageImprint({ hashAlgorithm: new AlgorithmIdentifier({ algorithm: '2.16.840.1.101.3.4.2.1' }), hashedMessage: new OctetString(new Uint8Array(32).fill(1)) }) })));

function serialOf(der: Uint8Array): bigint {
  const resp = AsnConvert.parse(der, TimeStampResp);
  const sd = AsnConvert.parse(AsnConvert.serialize(resp.timeStampToken!), ContentInfo);
  const signed = AsnConvert.parse(sd.content, SignedData);
  const tst = AsnConvert.parse(signed.encapContentInfo.eContent!.single!.buffer, TSTInfo);
  return BigInt(`0x${Buffer.from(tst.serialNumber).toString('hex')}`);
}

describe('serial numbers', () => {
  it('are unique across two instances on one database and across a restart', async () => {
    const a = await startTsaServer('tsa-inst', { tsa: { serialBatch: 7 } });
    const b = await startTsaServer('tsa-inst', { chain: a.chain, db: a.db, creds: a.creds!, tsa: { serialBatch: 7 } });
    const serials: bigint[] = [];
    try {
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => postTsa(i % 2 ? a.url : b.url, request())));
      for (const r of answers) {
        expect(r.status).toBe(200);
        serials.push(serialOf(r.body));
      }
      await b.close();
      const c = await startTsaServer('tsa-inst', { chain: a.chain, db: a.db, creds: a.creds!, tsa: { serialBatch: 7 } });
      try {
        for (let i = 0; i < 10; i++) serials.push(serialOf((await postTsa(c.url, request())).body));
      } finally {
        await c.close();
      }
      expect(new Set(serials).size).toBe(70);
      const [row] = (await a.db.knex('timestamps').count('* as n')) as { n: string | number }[];
      expect(Number(row!.n)).toBe(70);
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe('clock', () => {
  it('a clock drifting from the database clock beyond tolerance → timeNotAvailable; within → granted', async () => {
    const skewed = await startTsaServer('tsa-skew', { clock: () => new Date(Date.now() + 5000), tsa: { clock: { check: 'database', toleranceMs: 1000, intervalMs: 1000 } } });
    try {
      const r = await postTsa(skewed.url, request());
      expect(r.status).toBe(200);
      expect(failInfoNames(r.body)).toEqual(['timeNotAvailable']);
    } finally {
      await skewed.close();
    }
    const fine = await startTsaServer('tsa-clock', { tsa: { clock: { check: 'database', toleranceMs: 1000, intervalMs: 1000 } } });
    try {
      expect(failInfoNames((await postTsa(fine.url, request())).body)).toEqual([]);
    } finally {
      await fine.close();
    }
  });

  it('timedatectl: NTPSynchronized=yes passes, no or an error fails', async () => {
    expect((await timedatectlCheck(async () => 'yes\n')()).ok).toBe(true);
    expect(await timedatectlCheck(async () => 'no\n')()).toEqual({ ok: false, detail: 'timedatectl NTPSynchronized=no' });
    const m = new ClockMonitor(
      timedatectlCheck(async () => {
        throw new Error('timedatectl: not found');
      }),
      1000,
    );
    await m.runOnce();
    expect(m.ok()).toBe(false);
    expect(m.status().detail).toContain('not found');
  });

  it('the time is unavailable before the first pass and when the last pass is older than three intervals', async () => {
    let now = 0;
    let ok = true;
    const m = new ClockMonitor(async () => ({ ok, detail: '' }), 1000, undefined, () => now);
    expect(m.ok()).toBe(false);
    await m.runOnce();
    expect(m.ok()).toBe(true);
    now = 3001;
    expect(m.ok()).toBe(false);
    await m.runOnce();
    expect(m.ok()).toBe(true);
    ok = false;
    await m.runOnce();
    expect(m.ok()).toBe(false);
  });

  it('drift check corrects for the round trip', async () => {
    const check = driftCheck(async () => new Date(1_000_500), () => new Date(1_000_000), 1000);
    expect((await check()).ok).toBe(true);
    expect((await driftCheck(async () => new Date(1_002_000), () => new Date(1_000_000), 1000)()).ok).toBe(false);
  });
});

describe('service certificate', () => {
  it('signs with the CA-issued TSA service certificate (tsa profile, key in the HSM)', async () => {
    const s = await startTsaServer('tsa-svc', { serviceCertificates: true });
    try {
      const r = await postTsa(s.url, request());
      expect(r.status).toBe(200);
      expect(failInfoNames(r.body)).toEqual([]);
      const resp = AsnConvert.parse(r.body, TimeStampResp);
      const signed = AsnConvert.parse(AsnConvert.parse(AsnConvert.serialize(resp.timeStampToken!), ContentInfo).content, SignedData);
      const cert = new Uint8Array(AsnConvert.serialize(signed.certificates![0]!.certificate!));
      const eku = issuerInfo(cert).certificate.tbsCertificate.extensions!.find((e) => e.extnID === '2.5.29.37')!;
      expect(eku.critical).toBe(true);
      const current = await s.ca.serviceCertificates.current('tsa');
      expect(Buffer.from(current!.certificateDer)).toEqual(Buffer.from(cert));
    } finally {
      await s.close();
    }
  });
});
