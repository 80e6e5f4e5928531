// ResponseEncoder: byte for byte what @peculiar/asn1-ocsp serialises for the same structure, and accepted by
// `openssl ocsp` (signature, statuses, reasons, nonce).
import { constants, sign, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BasicOCSPResponse,
  CertID,
  CertStatus as LibCertStatus,
  KeyHash,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, CRLReason, Extension } from '@peculiar/asn1-x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { algorithmIdentifierDer } from '../../../ca/x509/algorithms.ts';
import { SIGNATURE_ALGORITHMS, type SignatureAlgorithm } from '../../../hsm/key-spec.ts';
import {
  issuerHashes,
  OCSP_INTERNAL_ERROR,
  OCSP_MALFORMED_REQUEST,
  OCSP_SIG_REQUIRED,
  OCSP_TRY_LATER,
  OCSP_UNAUTHORIZED,
  OcspEncodingError,
  parseOcspRequest,
  REVOCATION_REASON_CODES,
  ResponseEncoder,
  type CertStatus,
  type RevocationReasonName,
  type SingleResponseInput,
} from '../../../ocsp/encoding/index.ts';
import { signatureAlgorithmIdentifier } from '../../../ocsp/encoding/signature-algorithm.ts';
import { certId, der, hex } from './library.ts';
import { makePki, opensslQuery, opensslRequest, opensslVerify, type Pki } from './pki.ts';

let pki: Pki;
beforeAll(() => {
  pki = makePki();
});

function softSign(alg: SignatureAlgorithm, key: KeyObject, data: Uint8Array): Uint8Array {
  if (alg === 'ed25519') return new Uint8Array(sign(null, data, key));
  const hash = alg.slice(alg.lastIndexOf('-') + 1);
  if (alg.startsWith('rsa-pss-')) return new Uint8Array(sign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }));
  // 'der' is what the HSM layer returns by default for ECDSA.
  return new Uint8Array(sign(hash, data, { key, dsaEncoding: 'der' }));
}

const seconds = (iso: string) => new Date(iso);

/** The same OCSPResponse built with the library's object model. */
function libraryResponse(certificateDer: Uint8Array, alg: SignatureAlgorithm, keyHash: Uint8Array, responses: readonly SingleResponseInput[], producedAt: Date, nonce: Uint8Array | undefined, signature: Uint8Array): Uint8Array {
  const status = (s: CertStatus): LibCertStatus => {
    if (s.kind === 'good') return new LibCertStatus({ good: null });
    if (s.kind === 'unknown') return new LibCertStatus({ unknown: null });
    const revoked = new RevokedInfo({ revocationTime: s.time });
    if (s.reason !== undefined) revoked.revocationReason = new CRLReason(REVOCATION_REASON_CODES[s.reason]);
    return new LibCertStatus({ revoked });
  };
  const data = new ResponseData({
    responderID: new ResponderID({ byKey: new KeyHash(keyHash) }),
    producedAt,
    responses: responses.map((r) => {
      const single = new SingleResponse({ certID: AsnConvert.parse(r.certIdDer, CertID), certStatus: status(r.status), thisUpdate: r.thisUpdate });
      if (r.nextUpdate) single.nextUpdate = r.nextUpdate;
      return single;
    }),
  });
  if (nonce) data.responseExtensions = [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(der(new OctetString(nonce))) })];
  const basic = new BasicOCSPResponse({
    tbsResponseData: data,
    signatureAlgorithm: AsnConvert.parse(algorithmIdentifierDer(alg), AlgorithmIdentifier),
    signature: new Uint8Array(signature).buffer,
    certs: [AsnConvert.parse(certificateDer, Certificate)],
  });
  return der(new OCSPResponse({ responseStatus: OCSPResponseStatus.successful, responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(der(basic)) }) }));
}

const REASONS = Object.keys(REVOCATION_REASON_CODES) as RevocationReasonName[];

describe('ResponseEncoder against the @peculiar/asn1-ocsp serialiser', () => {
  const producedAt = seconds('2026-11-28T14:03:07Z');
  const thisUpdate = seconds('2026-11-28T14:00:00Z');
  const nextUpdate = seconds('2026-12-02T14:00:00Z');
  const cases: [string, CertStatus[], boolean, Uint8Array | undefined][] = [
    ['good, nextUpdate, no nonce', [{ kind: 'good' }], true, undefined],
    ['unknown, no nextUpdate', [{ kind: 'unknown' }], false, undefined],
    ['revoked without reason, nonce', [{ kind: 'revoked', time: seconds('2026-11-01T00:00:00Z') }], true, Uint8Array.of(1, 2, 3)],
    ...REASONS.map((reason): [string, CertStatus[], boolean, Uint8Array | undefined] => [`revoked (${reason})`, [{ kind: 'revoked', time: seconds('2049-12-31T23:59:59Z'), reason }], true, undefined]),
    ['ten mixed statuses, 128-octet nonce', Array.from({ length: 10 }, (_, i): CertStatus => (i % 3 === 0 ? { kind: 'good' } : i % 3 === 1 ? { kind: 'unknown' } : { kind: 'revoked', time: seconds('2060-06-06T06:06:06Z'), reason: 'superseded' })), true, new Uint8Array(128).fill(0xa5)],
  ];

  it.each(cases)('%s', (_, statuses, withNext, nonce) => {
    for (const [alg, responder] of [['ecdsa-sha256', pki.ecResponder], ['rsa-pkcs1-sha256', pki.rsaResponder]] as const) {
      const encoder = new ResponseEncoder({ certificateDer: responder.certDer, signatureAlgorithm: alg });
      const inputs: SingleResponseInput[] = statuses.map((status, i) => ({
        certIdDer: der(certId({ serial: (i + 0x70).toString(16) })),
        status,
        thisUpdate,
        ...(withNext ? { nextUpdate } : {}),
      }));
      const tbs = encoder.tbs(inputs, producedAt, nonce);
      const signature = softSign(alg, responder.key, tbs);
      const ours = encoder.assemble(tbs, signature);
      expect(hex(ours)).toBe(hex(libraryResponse(responder.certDer, alg, encoder.keyHash, inputs, producedAt, nonce, signature)));

      // And the library reads every field back.
      const parsed = AsnConvert.parse(ours, OCSPResponse);
      expect(parsed.responseStatus).toBe(OCSPResponseStatus.successful);
      expect(parsed.responseBytes!.responseType).toBe(id_pkix_ocsp_basic);
      const basic = AsnConvert.parse(parsed.responseBytes!.response, BasicOCSPResponse);
      const data = basic.tbsResponseData;
      expect(hex(new Uint8Array((basic as unknown as { tbsResponseDataRaw: ArrayBuffer }).tbsResponseDataRaw))).toBe(hex(tbs));
      expect(hex(new Uint8Array(data.responderID.byKey!.buffer))).toBe(hex(encoder.keyHash));
      expect(data.producedAt.getTime()).toBe(producedAt.getTime());
      expect(data.responses).toHaveLength(inputs.length);
      data.responses.forEach((r, i) => {
        const input = inputs[i]!;
        expect(hex(der(r.certID))).toBe(hex(input.certIdDer));
        expect(r.thisUpdate.getTime()).toBe(thisUpdate.getTime());
        expect(r.nextUpdate?.getTime()).toBe(input.nextUpdate?.getTime());
        const s = input.status;
        if (s.kind === 'revoked') {
          expect(r.certStatus.revoked!.revocationTime.getTime()).toBe(s.time.getTime());
          expect(r.certStatus.revoked!.revocationReason?.reason).toBe(s.reason === undefined ? undefined : REVOCATION_REASON_CODES[s.reason]);
        } else expect(r.certStatus[s.kind]).toBeNull();
      });
      if (nonce) {
        const [ext] = data.responseExtensions!;
        expect(ext!.extnID).toBe(id_pkix_ocsp_nonce);
        expect(ext!.critical).toBe(false);
        expect(hex(new Uint8Array(AsnConvert.parse(ext!.extnValue.buffer, OctetString).buffer))).toBe(hex(nonce));
      } else expect(data.responseExtensions).toBeUndefined();
      expect(hex(der(basic.signatureAlgorithm))).toBe(hex(algorithmIdentifierDer(alg)));
      expect(hex(new Uint8Array(basic.signature))).toBe(hex(signature));
      expect(hex(der(basic.certs![0]!))).toBe(hex(responder.certDer));
    }
  });

  it('times are whole-second GeneralizedTime: milliseconds are dropped, never rounded up', () => {
    const encoder = new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' });
    const tbs = encoder.tbs([{ certIdDer: der(certId()), status: { kind: 'revoked', time: new Date('1999-12-31T23:59:59.999Z') }, thisUpdate: new Date('2026-11-28T14:00:00.999Z') }], new Date('2126-01-02T03:04:05.500Z'));
    const text = Buffer.from(tbs).toString('latin1');
    expect(text).toContain('\x18\x0f21260102030405Z');
    expect(text).toContain('\x18\x0f19991231235959Z');
    expect(text).toContain('\x18\x0f20261128140000Z');
  });

  it('lengths across the short/long form boundaries (1-, 2- and 3-octet lengths)', () => {
    // A large responder certificate stand-in is not possible (it must parse), so grow the CertID instead.
    const encoder = new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' });
    for (const serialOctets of [1, 20, 100, 300, 70_000]) {
      const certIdDer = der(certId({ serial: `7f${'ab'.repeat(serialOctets - 1)}` }));
      const tbs = encoder.tbs([{ certIdDer, status: { kind: 'good' }, thisUpdate }], producedAt);
      const signature = softSign('ecdsa-sha256', pki.ecResponder.key, tbs);
      const ours = encoder.assemble(tbs, signature);
      expect(hex(ours)).toBe(hex(libraryResponse(pki.ecResponder.certDer, 'ecdsa-sha256', encoder.keyHash, [{ certIdDer, status: { kind: 'good' }, thisUpdate }], producedAt, undefined, signature)));
    }
  });

  it('keyHash is the SHA-1 of the responder key (RFC 6960 byKey), as issuerHashes computes it', () => {
    const encoder = new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' });
    expect(hex(encoder.keyHash)).toBe(hex(issuerHashes(pki.ecResponder.certDer).sha1.key));
    expect(encoder.keyHash).toHaveLength(20);
  });

  it('the AlgorithmIdentifiers are byte for byte those of ca/x509/algorithms.ts', () => {
    for (const alg of SIGNATURE_ALGORITHMS) expect(hex(signatureAlgorithmIdentifier(alg)!)).toBe(hex(algorithmIdentifierDer(alg)));
  });
});

describe('openssl ocsp as the client', () => {
  const now = () => new Date();
  const minutes = (n: number) => new Date(Date.now() + n * 60_000);

  function answer(alg: SignatureAlgorithm, responder: { certDer: Uint8Array; key: KeyObject }, reqDer: Uint8Array, statuses: CertStatus[], nonceOverride?: Uint8Array): Uint8Array {
    const request = parseOcspRequest(reqDer);
    const encoder = new ResponseEncoder({ certificateDer: responder.certDer, signatureAlgorithm: alg });
    const singles = request.certIds.map((c, i): SingleResponseInput => ({ certIdDer: c.der, status: statuses[i]!, thisUpdate: minutes(-1), nextUpdate: minutes(60 * 24) }));
    const tbs = encoder.tbs(singles, now(), nonceOverride ?? request.nonce);
    return encoder.assemble(tbs, softSign(alg, responder.key, tbs));
  }

  const RESPONDERS = [
    ['ecdsa-sha256', 'ecResponder'],
    ['ecdsa-sha384', 'ecResponder'],
    ['rsa-pkcs1-sha256', 'rsaResponder'],
    ['rsa-pss-sha256', 'rsaResponder'],
    ['ed25519', 'ed25519Responder'],
  ] as const;

  it.each(RESPONDERS)('%s: good and revoked (keyCompromise) by certificate', (alg, who) => {
    const req = opensslRequest(pki, ['-cert', 'leaf.pem', '-cert', 'leaf2.pem', '-no_nonce'], `${alg}.req.der`);
    const r = opensslVerify(pki, answer(alg, pki[who], req, [{ kind: 'good' }, { kind: 'revoked', time: minutes(-600), reason: 'keyCompromise' }]), { certs: ['leaf.pem', 'leaf2.pem'] });
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/leaf\.pem: good/);
    expect(r.out).toMatch(/leaf2\.pem: revoked\s+This Update: .*\s+Next Update: .*\s+Reason: keyCompromise/);
    expect(r.ok).toBe(true);
  });

  it.each(RESPONDERS)('%s: the nonce of the request is echoed and verified', (alg, who) => {
    const req = opensslRequest(pki, ['-cert', 'leaf.pem', '-nonce'], `${alg}.nonce.der`);
    const nonce = parseOcspRequest(req).nonce!;
    const r = opensslVerify(pki, answer(alg, pki[who], req, [{ kind: 'revoked', time: minutes(-5), reason: 'cessationOfOperation' }]), { reqin: `${alg}.nonce.der` });
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/Cert Status: revoked\s+Revocation Time: .*\s+Revocation Reason: cessationOfOperation \(0x5\)/);
    expect(r.out).toMatch(new RegExp(`OCSP Nonce:\\s+0410${hex(nonce).toUpperCase()}`));
    expect(r.out).not.toMatch(/nonce verify error|no nonce in response/i);
    expect(r.ok).toBe(true);
  });

  it('SHA-256 CertID, unknown, no nonce; revoked without a reason', () => {
    const req = opensslRequest(pki, ['-sha256', '-cert', 'leaf.pem', '-no_nonce'], 'u.req.der');
    let r = opensslVerify(pki, answer('ecdsa-sha256', pki.ecResponder, req, [{ kind: 'unknown' }]), { reqin: 'u.req.der' });
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/Hash Algorithm: sha256[\s\S]*Cert Status: unknown/);
    expect(r.ok).toBe(true);

    const req2 = opensslRequest(pki, ['-cert', 'leaf2.pem', '-no_nonce'], 'r.req.der');
    r = opensslVerify(pki, answer('rsa-pkcs1-sha256', pki.rsaResponder, req2, [{ kind: 'revoked', time: minutes(-5) }]), { certs: ['leaf2.pem'] });
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/leaf2\.pem: revoked/);
    expect(r.out).not.toMatch(/Reason:/);
  });

  it("a nonce that is not the request's is refused by openssl (the check is real)", () => {
    const req = opensslRequest(pki, ['-cert', 'leaf.pem', '-nonce'], 'n.req.der');
    const r = opensslVerify(pki, answer('ecdsa-sha256', pki.ecResponder, req, [{ kind: 'good' }], new Uint8Array(16).fill(7)), { reqin: 'n.req.der' });
    expect(r.out).toMatch(/nonce verify error/i);
    expect(r.ok).toBe(false);
  });

  it('end to end over HTTP: openssl asks (two CertIDs, nonce), we parse and answer, openssl verifies', async () => {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = new Uint8Array(Buffer.concat(chunks));
        const parsed = parseOcspRequest(body);
        const statuses: CertStatus[] = parsed.certIds.map((c) => (c.serial === pki.leaves.leaf.serial ? { kind: 'good' } : { kind: 'revoked', time: minutes(-60), reason: 'superseded' }));
        res.writeHead(200, { 'content-type': 'application/ocsp-response' });
        res.end(answer('rsa-pkcs1-sha256', pki.rsaResponder, body, statuses));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const r = await opensslQuery(pki, `http://127.0.0.1:${port}/`, ['-cert', 'leaf.pem', '-cert', 'leaf2.pem', '-nonce']);
      expect(r.out).toContain('Response verify OK');
      expect(r.out).toMatch(/leaf\.pem: good/);
      expect(r.out).toMatch(/leaf2\.pem: revoked[\s\S]*Reason: superseded/);
      expect(r.out).toContain('OCSP Nonce');
      expect(r.out).not.toMatch(/nonce verify error|no nonce in response/i);
      expect(r.ok).toBe(true);
    } finally {
      server.close();
    }
  });

  it('unsuccessful statuses: 5 bytes each, read by the library and by openssl', () => {
    const table = [
      [OCSP_MALFORMED_REQUEST, OCSPResponseStatus.malformedRequest, 'malformedrequest'],
      [OCSP_INTERNAL_ERROR, OCSPResponseStatus.internalError, 'internalerror'],
      [OCSP_TRY_LATER, OCSPResponseStatus.tryLater, 'trylater'],
      [OCSP_SIG_REQUIRED, OCSPResponseStatus.sigRequired, 'sigrequired'],
      [OCSP_UNAUTHORIZED, OCSPResponseStatus.unauthorized, 'unauthorized'],
    ] as const;
    for (const [bytes, status, text] of table) {
      expect(bytes).toHaveLength(5);
      expect(hex(bytes)).toBe(hex(der(new OCSPResponse({ responseStatus: status }))));
      const r = opensslVerify(pki, bytes);
      expect(r.out.toLowerCase()).toContain(`responder error: ${text} (${status})`);
    }
  });
});

describe('encoder refusals (OcspEncodingError)', () => {
  const good: SingleResponseInput = { certIdDer: der(certId()), status: { kind: 'good' }, thisUpdate: new Date() };

  it.each([
    ['ECDSA raw r||s instead of DER', () => { const e = new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' }); const tbs = e.tbs([good], new Date()); return e.assemble(tbs, new Uint8Array(sign('sha256', tbs, { key: pki.ecResponder.key, dsaEncoding: 'ieee-p1363' }))); }],
    ['RSA signature of the wrong length', () => { const e = new ResponseEncoder({ certificateDer: pki.rsaResponder.certDer, signatureAlgorithm: 'rsa-pkcs1-sha256' }); return e.assemble(e.tbs([good], new Date()), new Uint8Array(255)); }],
    ['Ed25519 signature of the wrong length', () => { const e = new ResponseEncoder({ certificateDer: pki.ed25519Responder.certDer, signatureAlgorithm: 'ed25519' }); return e.assemble(e.tbs([good], new Date()), new Uint8Array(65)); }],
    ['tbs that is not one SEQUENCE', () => new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' }).assemble(Uint8Array.of(0x30, 0x00, 0x00), new Uint8Array(8))],
    ['ECDSA with an RSA responder', () => new ResponseEncoder({ certificateDer: pki.rsaResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' })],
    ['RSA with an EC responder', () => new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'rsa-pss-sha256' })],
    ['an unknown algorithm name', () => new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-md5' as SignatureAlgorithm })],
    ['a certificate that is not DER', () => new ResponseEncoder({ certificateDer: Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01), signatureAlgorithm: 'ecdsa-sha256' })],
    ['issuerHashes of something that is not a certificate', () => issuerHashes(Uint8Array.of(0x30, 0x80, 0x00, 0x00))],
    ['a certificate with trailing bytes', () => issuerHashes(Uint8Array.from([...pki.caDer, 0]))],
    ['no SingleResponse', () => new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' }).tbs([], new Date())],
    ['an invalid date', () => new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' }).tbs([{ ...good, thisUpdate: new Date(NaN) }], new Date())],
    ['year 10000', () => new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' }).tbs([good], new Date('+010000-01-01T00:00:00Z'))],
    ['an empty nonce', () => new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' }).tbs([good], new Date(), new Uint8Array(0))],
    ['a CertID that is not one SEQUENCE', () => new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' }).tbs([{ ...good, certIdDer: Uint8Array.of(4, 0) }], new Date())],
    ['an unknown reason', () => new ResponseEncoder({ certificateDer: pki.ecResponder.certDer, signatureAlgorithm: 'ecdsa-sha256' }).tbs([{ ...good, status: { kind: 'revoked', time: new Date(), reason: 'lost' as RevocationReasonName } }], new Date())],
  ])('%s', (_, f) => {
    expect(f).toThrow(OcspEncodingError);
  });
});
