// A micro-measurement, not a timed assertion: µs per request parse and per response encode (signature excluded),
// ours vs the @peculiar/asn1-ocsp object model. Run standalone for production-like figures (tsx's ESM loader, as
// `strongroom` runs): `node --import tsx test/ocsp/encoding/measure.ts`. Under vitest, its module transform adds
// a getter per imported binding and inflates both sides.
import {
  BasicOCSPResponse,
  CertStatus as LibCertStatus,
  KeyHash,
  OCSPRequest,
  OCSPResponse,
  ResponderID,
  ResponseBytes,
  ResponseData,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, Extension } from '@peculiar/asn1-x509';
import { sign } from 'node:crypto';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseOcspRequest, ResponseEncoder } from '../../../ocsp/encoding/index.ts';
import { makePki, opensslRequest } from './pki.ts';

/** The best of five rounds: on a shared machine the minimum is the figure that means something. */
function microseconds(f: () => unknown, budgetMs: number): number {
  const warm = process.hrtime.bigint() + BigInt(Math.ceil(budgetMs / 5)) * 1_000_000n;
  while (process.hrtime.bigint() < warm) for (let i = 0; i < 20; i++) f();
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    let n = 0;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.ceil(budgetMs / 5)) * 1_000_000n;
    let now = start;
    while (now < deadline) {
      for (let i = 0; i < 20; i++) f();
      n += 20;
      now = process.hrtime.bigint();
    }
    best = Math.min(best, Number(now - start) / 1000 / n);
  }
  return best;
}

const serialize = (value: unknown) => new Uint8Array(AsnConvert.serialize(value));

export function measure(budgetMs = 250): string {
  const pki = makePki();
  try {
    const req = opensslRequest(pki, ['-cert', 'leaf.pem', '-nonce']);
    const encoder = new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' });
    const thisUpdate = new Date('2026-11-28T14:00:00Z');
    const nextUpdate = new Date('2026-12-02T14:00:00Z');
    const parsed = parseOcspRequest(req);
    const signature = new Uint8Array(sign('sha256', req, { key: pki.ecResponder.key, dsaEncoding: 'der' }));
    const ours = (p: ReturnType<typeof parseOcspRequest>) =>
      encoder.assemble(encoder.tbs([{ certIdDer: p.certIds[0]!.der, status: { kind: 'good' }, thisUpdate, nextUpdate }], new Date(), p.nonce), signature);

    // The object model as a responder would use it: responder certificate and algorithm parsed once.
    const certificate = AsnConvert.parse(pki.ecResponder.certDer, Certificate);
    const algorithm = AsnConvert.parse(Uint8Array.of(0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02), AlgorithmIdentifier);
    const libParsed = AsnConvert.parse(req, OCSPRequest);
    const theirs = (r: OCSPRequest) => {
      const data = new ResponseData({
        responderID: new ResponderID({ byKey: new KeyHash(encoder.keyHash) }),
        producedAt: new Date(Math.floor(Date.now() / 1000) * 1000),
        responses: [new SingleResponse({ certID: r.tbsRequest.requestList[0]!.reqCert, certStatus: new LibCertStatus({ good: null }), thisUpdate, nextUpdate })],
        responseExtensions: [new Extension({ extnID: id_pkix_ocsp_nonce, extnValue: r.tbsRequest.requestExtensions![0]!.extnValue })],
      });
      const tbs = serialize(data); // what would be signed
      const basic = new BasicOCSPResponse({ tbsResponseData: data, signatureAlgorithm: algorithm, signature: signature.slice().buffer, certs: [certificate] });
      return [tbs, serialize(new OCSPResponse({ responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(serialize(basic)) }) }))];
    };

    const rows: [string, number, number][] = [
      ['parse a request', microseconds(() => parseOcspRequest(req), budgetMs), microseconds(() => AsnConvert.parse(req, OCSPRequest), budgetMs)],
      ['tbs + assemble (request already parsed)', microseconds(() => ours(parsed), budgetMs), microseconds(() => theirs(libParsed), budgetMs)],
      ['parse + tbs + assemble', microseconds(() => ours(parseOcspRequest(req)), budgetMs), microseconds(() => theirs(AsnConvert.parse(req, OCSPRequest)), budgetMs)],
    ];
    return [
      'OCSP encoding, µs per operation (one SHA-1 CertID + 16-octet nonce, P-256 responder, signing excluded):',
      ...rows.map(([what, a, b]) => `  ${what.padEnd(42)} ours ${a.toFixed(2).padStart(6)}   @peculiar/asn1-ocsp ${b.toFixed(1).padStart(7)}   ×${(b / a).toFixed(0)}`),
    ].join('\n');
  } finally {
    if (!process.env.STRONGROOM_TEST_ROOT) rmSync(pki.dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(measure(1000));
