// The spliced encoders against the object model: the same structure serialised by @peculiar/asn1-tsp / asn1-cms
// must be the same bytes. Also the request parser against asn1-tsp's parse of openssl requests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Attribute,
  CertificateChoices,
  CertificateSet,
  ContentInfo,
  DigestAlgorithmIdentifiers,
  EncapsulatedContent,
  EncapsulatedContentInfo,
  IssuerAndSerialNumber,
  SignedData,
  SignerIdentifier,
  SignerInfo,
  SignerInfos,
} from '@peculiar/asn1-cms';
import { AsnArray, AsnConvert, AsnIntegerArrayBufferConverter, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from '@peculiar/asn1-schema';
import { Accuracy, MessageImprint, PKIStatusInfo, TimeStampReq, TimeStampResp, TSTInfo } from '@peculiar/asn1-tsp';
import { AlgorithmIdentifier, Certificate, GeneralName, GeneralNames, Name } from '@peculiar/asn1-x509';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OID, oidDer } from '../../ca/tsa/oids.ts';
import { parseTimestampRequest } from '../../ca/tsa/timestamp-request.ts';
import { grantedResponse, rejectionResponse } from '../../ca/tsa/timestamp-response.ts';
import { certificateFields, TokenTemplate } from '../../ca/tsa/token-template.ts';
import { accuracyDer, encodeTstInfo } from '../../ca/tsa/tst-info.ts';
import { algorithmIdentifier } from '../../ca/x509/algorithms.ts';
import { unsignedToInteger } from '../../ca/x509/der.ts';
import { issueCertificate } from '../../ca/x509/index.ts';
import { SoftwareSigner } from '../support/software-signer.ts';
import { rootLint, rootSpec } from '../x509/fixtures.ts';

const SHA256 = '2.16.840.1.101.3.4.2.1';
const hex = (b: Uint8Array | ArrayBuffer) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString('hex');
const buf = (b: Uint8Array) => new Uint8Array(b).buffer;

// ESS (RFC 5816) has no @peculiar package: its two types declared here with the schema's decorators applied by hand.
class IssuerSerial {
  issuer = new GeneralNames();
  serialNumber = new ArrayBuffer(0);
}
AsnType({ type: AsnTypeTypes.Sequence })(IssuerSerial);
AsnProp({ type: GeneralNames })(IssuerSerial.prototype, 'issuer');
AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter })(IssuerSerial.prototype, 'serialNumber');
class EssCertIdV2 {
  certHash = new OctetString();
  issuerSerial = new IssuerSerial();
}
AsnType({ type: AsnTypeTypes.Sequence })(EssCertIdV2);
AsnProp({ type: OctetString })(EssCertIdV2.prototype, 'certHash');
AsnProp({ type: IssuerSerial, optional: true })(EssCertIdV2.prototype, 'issuerSerial');
class EssCertIds extends AsnArray<EssCertIdV2> {}
AsnType({ type: AsnTypeTypes.Sequence, itemType: EssCertIdV2 })(EssCertIds);
class SigningCertificateV2 {
  certs = new EssCertIds();
}
AsnType({ type: AsnTypeTypes.Sequence })(SigningCertificateV2);
AsnProp({ type: EssCertIds })(SigningCertificateV2.prototype, 'certs');

async function tsaCert() {
  const signer = SoftwareSigner.generate('ec-p256');
  const cert = await issueCertificate(await rootSpec(signer, 'Encoding Test TSA'), signer, rootLint);
  return { signer, der: cert.der };
}

describe('TSTInfo', () => {
  it('matches asn1-tsp byte for byte (ms, whole seconds, with and without nonce)', async () => {
    const { der } = await tsaCert();
    const template = new TokenTemplate(der, 'ecdsa-sha256');
    const digest = createHash('sha256').update('x').digest();
    const imprint = new MessageImprint({ hashAlgorithm: new AlgorithmIdentifier({ algorithm: SHA256 }), hashedMessage: new OctetString(digest) });
    const name = AsnConvert.parse(certificateFields(der).subjectDer, Name);
    for (const [time, nonce, serial] of [
      ['2026-11-28T14:00:00.123Z', Uint8Array.of(0x00, 0x9f, 1, 2), 1n],
      ['2026-11-28T14:00:00.000Z', undefined, 0xffffffffffn],
      ['2026-11-28T14:00:00.500Z', Uint8Array.of(0x7f), 128n],
      ['2026-11-28T14:00:00.120Z', Uint8Array.of(0x80 - 1), 0x1234567890abcdef1234n],
    ] as const) {
      const ours = encodeTstInfo({
        policyDer: oidDer('1.3.6.1.4.1.99999.1.1'),
        messageImprintDer: new Uint8Array(AsnConvert.serialize(imprint)),
        serial,
        genTime: new Date(time),
        accuracyDer: accuracyDer(1000),
        nonceDer: nonce ? Uint8Array.from([0x02, nonce.length, ...nonce]) : undefined,
        tsaNameDer: template.tsaNameDer,
      });
      const lib = new TSTInfo({
        version: 1,
        policy: '1.3.6.1.4.1.99999.1.1',
        messageImprint: imprint,
        serialNumber: buf(unsignedToInteger(serial)),
        genTime: new Date(time),
        accuracy: new Accuracy({ seconds: 1 }),
        ...(nonce ? { nonce: buf(nonce) } : {}),
        tsa: new GeneralName({ directoryName: name }),
      });
      expect(hex(ours)).toBe(hex(AsnConvert.serialize(lib)));
    }
  });

  it('GeneralizedTime drops trailing fraction zeros; accuracy splits seconds and millis', () => {
    const time = (iso: string) => {
      const der = Buffer.from(encodeTstInfo({ policyDer: oidDer('1.2.3'), messageImprintDer: Uint8Array.of(0x30, 0), serial: 1n, genTime: new Date(iso), accuracyDer: undefined, nonceDer: undefined, tsaNameDer: undefined }));
      const at = der.indexOf(0x18);
      return der.subarray(at + 2, at + 2 + der[at + 1]!).toString('latin1');
    };
    expect(time('2026-01-02T03:04:05.120Z')).toBe('20260102030405.12Z');
    expect(time('2026-01-02T03:04:05.500Z')).toBe('20260102030405.5Z');
    expect(time('2026-01-02T03:04:05.007Z')).toBe('20260102030405.007Z');
    expect(time('2026-01-02T03:04:05.000Z')).toBe('20260102030405Z');
    expect(hex(accuracyDer(1500))).toBe(hex(AsnConvert.serialize(new Accuracy({ seconds: 1, millis: 500 }))));
    expect(hex(accuracyDer(250))).toBe(hex(AsnConvert.serialize(new Accuracy({ seconds: undefined as unknown as number, millis: 250 }))));
  });
});

describe('TimeStampToken', () => {
  for (const withCert of [true, false]) {
    it(`matches asn1-cms byte for byte (certificate ${withCert ? 'included' : 'left out'}), and the signature covers the signed attributes`, async () => {
      const { der, signer } = await tsaCert();
      const template = new TokenTemplate(der, 'ecdsa-sha256');
      const tstInfo = Uint8Array.from(Buffer.from('3003020101', 'hex'));
      const attrs = template.signedAttributes(tstInfo);
      const signature = await signer.sign(attrs);
      const token = template.token(tstInfo, attrs, signature, withCert);

      const cert = AsnConvert.parse(der, Certificate);
      const fields = certificateFields(der);
      const issuer = AsnConvert.parse(fields.issuerDer, Name);
      const serial = buf(fields.serialDer.subarray(2));
      const ess = new SigningCertificateV2();
      ess.certs = new EssCertIds([
        Object.assign(new EssCertIdV2(), {
          certHash: new OctetString(createHash('sha256').update(der).digest()),
          issuerSerial: Object.assign(new IssuerSerial(), { issuer: new GeneralNames([new GeneralName({ directoryName: issuer })]), serialNumber: serial }),
        }),
      ]);
      const signedAttrs = [
        new Attribute({ attrType: OID.contentType, attrValues: [AsnConvert.serialize(Object.assign(new ObjectId(), { value: OID.tstInfo }))] }),
        new Attribute({ attrType: OID.messageDigest, attrValues: [AsnConvert.serialize(new OctetString(createHash('sha256').update(tstInfo).digest()))] }),
        new Attribute({ attrType: OID.signingCertificateV2, attrValues: [AsnConvert.serialize(ess)] }),
      ].sort((a, b) => Buffer.compare(Buffer.from(AsnConvert.serialize(a)), Buffer.from(AsnConvert.serialize(b))));
      const sha256 = new AlgorithmIdentifier({ algorithm: SHA256 });
      const signedData = new SignedData({
        version: 3,
        digestAlgorithms: new DigestAlgorithmIdentifiers([sha256]),
        encapContentInfo: new EncapsulatedContentInfo({ eContentType: OID.tstInfo, eContent: new EncapsulatedContent({ single: new OctetString(tstInfo) }) }),
        ...(withCert ? { certificates: new CertificateSet([new CertificateChoices({ certificate: cert })]) } : {}),
        signerInfos: new SignerInfos([
          new SignerInfo({
            version: 1,
            sid: new SignerIdentifier({ issuerAndSerialNumber: new IssuerAndSerialNumber({ issuer, serialNumber: serial }) }),
            digestAlgorithm: sha256,
            signedAttrs,
            signatureAlgorithm: algorithmIdentifier('ecdsa-sha256'),
            signature: new OctetString(signature),
          }),
        ]),
      });
      const lib = new ContentInfo({ contentType: OID.signedData, content: AsnConvert.serialize(signedData) });
      expect(hex(token)).toBe(hex(AsnConvert.serialize(lib)));
      // The DER SET OF signed attributes (tag 0x31) is what was signed.
      expect(hex(signer.calls.at(-1)!.data)).toBe(hex(attrs));
      expect(attrs[0]).toBe(0x31);

      const resp = AsnConvert.parse(grantedResponse(token), TimeStampResp);
      expect(resp.status.status).toBe(0);
      expect(hex(AsnConvert.serialize(resp.timeStampToken!))).toBe(hex(token));
    });
  }

  it('rejection responses match asn1-tsp', () => {
    const lib = new TimeStampResp({ status: new PKIStatusInfo({ status: 2 }) });
    const ours = AsnConvert.parse(rejectionResponse('systemFailure', 'busy'), TimeStampResp);
    expect(ours.status.status).toBe(lib.status.status);
    expect([...ours.status.statusString!]).toEqual(['busy']);
    // bit 25: four octets, six unused bits, 0x40 in the last.
    expect(hex(ours.status.failInfo!.value)).toBe('00000040');
    expect(ours.status.failInfo!.unusedBits).toBe(6);
  });
});

class ObjectId {
  value = '';
}
AsnType({ type: AsnTypeTypes.Choice })(ObjectId);
AsnProp({ type: AsnPropTypes.ObjectIdentifier })(ObjectId.prototype, 'value');

describe('TimeStampReq parser', () => {
  it('reads what openssl ts -query writes the way asn1-tsp does', () => {
    const dir = mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), 'tsq-'));
    writeFileSync(join(dir, 'f'), 'data');
    for (const args of [['-sha256', '-cert'], ['-sha384', '-no_nonce'], ['-sha512', '-tspolicy', '1.2.3.4']]) {
      execFileSync('openssl', ['ts', '-query', '-data', 'f', ...args, '-out', 'q.tsq'], { cwd: dir });
      const der = readFileSync(join(dir, 'q.tsq'));
      const ours = parseTimestampRequest(der);
      const lib = AsnConvert.parse(der, TimeStampReq);
      expect(hex(ours.imprint)).toBe(hex(lib.messageImprint.hashedMessage.buffer));
      expect(hex(ours.messageImprintDer)).toBe(hex(AsnConvert.serialize(lib.messageImprint)));
      expect(ours.certReq).toBe(lib.certReq);
      expect(ours.nonce ? hex(ours.nonce) : undefined).toBe(lib.nonce ? hex(lib.nonce) : undefined);
      expect(ours.policyDer !== undefined).toBe(lib.reqPolicy !== undefined);
    }
  });
});
