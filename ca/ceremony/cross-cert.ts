/**
 * cross-cert: another root's key certified under this root, so relying parties that trust this root can reach
 * certificates issued under the other one. Subject and public key are the other root certificate's, byte for byte;
 * the SKI must be the other root's own (RFC 5280 method 1), or the paths its certificates start would not build.
 * At most 10 years and inside this root's validity.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Name } from '@peculiar/asn1-x509';
import type { z } from 'zod';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  crlDistributionPoints,
  issuerName,
  keyIdentifier,
  keyUsage,
  nameDer,
  nameToString,
  subjectKeyIdentifier,
} from '../x509/index.ts';
import { bytesEqual } from '../x509/der.ts';
import type { CeremonyEnv, Prepared } from './ceremony.ts';
import { algorithmFor, ceremonyOutputs, fromField, prepareCertificate } from './certificate.ts';
import type { crossCertConfig } from './config.ts';
import { refused } from './errors.ts';
import { readCertificateInput } from './inputs.ts';
import { checkValidity, INTERMEDIATE_LINT_DAYS, INTERMEDIATE_MAX_YEARS, isoSeconds } from './rules.ts';

export async function prepareCrossCert(config: z.infer<typeof crossCertConfig>, env: CeremonyEnv): Promise<Prepared> {
  const c = config.certificate;
  const issuer = readCertificateInput('inputs.issuer-certificate', config.inputs['issuer-certificate'], env.baseDir, { issuesCertificates: true });
  const other = readCertificateInput('inputs.certificate-to-cross-sign', config.inputs['certificate-to-cross-sign'], env.baseDir);
  const field = 'inputs.certificate-to-cross-sign';
  if (bytesEqual(other.info.spki, issuer.info.spki)) throw refused(field, 'it certifies the issuing root\'s own key');
  if (!other.info.ca) throw refused(field, 'only a CA certificate (basicConstraints cA) is cross-signed');
  const subject = AsnConvert.parse(other.info.subjectDer, Name);
  if (!bytesEqual(nameDer(subject), other.info.subjectDer)) throw refused(field, 'its subject is not in DER; a cross-certificate must repeat it byte for byte');
  if (!bytesEqual(other.info.keyIdentifier, keyIdentifier(other.info.spki))) {
    throw refused(field, 'its subjectKeyIdentifier is not RFC 5280 method 1 over its key: certificates it issued name that SKI, and a cross-certificate carrying another one would not chain');
  }
  checkValidity('certificate', c['not-before'], c['not-after'], INTERMEDIATE_MAX_YEARS, { info: issuer.info, field: 'inputs.issuer-certificate' });
  const algorithm = algorithmFor(issuer.keyType, c['signature-algorithm'], 'certificate.signature-algorithm');
  const extensions = [
    fromField('certificate.path-length', () => basicConstraints({ ca: true, ...(c['path-length'] !== undefined ? { pathLen: c['path-length'] } : {}) })),
    keyUsage(['keyCertSign', 'cRLSign']),
    subjectKeyIdentifier(other.info.spki),
    authorityKeyIdentifier(issuer.info.keyIdentifier),
    ...(c['crl-url'] ? [fromField('certificate.crl-url', () => crlDistributionPoints([c['crl-url']!]))] : []),
    ...(c['issuer-url'] ? [fromField('certificate.issuer-url', () => authorityInfoAccess({ caIssuers: [c['issuer-url']!] }))] : []),
  ];
  const outputs = ceremonyOutputs(config.outputs, env.baseDir);
  return prepareCertificate(
    {
      type: 'cross-cert',
      title: `cross-certificate for "${nameToString(subject)}"`,
      signingLabel: config['signing-key'].label,
      expected: { spki: issuer.info.spki, field: 'inputs.issuer-certificate' },
      keyType: issuer.keyType,
      algorithm,
      spec: (serial) => ({
        serial,
        issuer: issuerName(issuer.info),
        subject,
        notBefore: c['not-before'],
        notAfter: c['not-after'],
        spki: other.info.spki,
        signatureAlgorithm: algorithm,
        extensions,
      }),
      lint: { ca: true, maxValidityDays: INTERMEDIATE_LINT_DAYS, issuerCertificate: issuer.der },
      output: outputs.certificate,
      inputs: [issuer, other],
      details: {
        issuerSpkiSha256: issuer.spkiSha256,
        subjectSpkiSha256: other.spkiSha256,
        notBefore: isoSeconds(c['not-before']),
        notAfter: isoSeconds(c['not-after']),
      },
    },
    env,
  );
}
