/**
 * intermediate-cert: an issuing-CA certificate for a public key (or CSR) whose private key lives in the online
 * HSM, signed by the root key. pathLen 0, keyUsage digitalSignature + keyCertSign + cRLSign, SKI and AKI, the CRL
 * distribution point, AIA (OCSP and caIssuers), optional name constraints; at most 10 years and inside the root's
 * validity. The root key in the HSM must be the issuer certificate's key.
 */
import type { z } from 'zod';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  crlDistributionPoints,
  issuerName,
  keyUsage,
  nameConstraints,
  subjectKeyIdentifier,
  type NameSubtrees,
} from '../x509/index.ts';
import { bytesEqual } from '../x509/der.ts';
import type { CeremonyEnv, Prepared } from './ceremony.ts';
import { algorithmFor, ceremonyOutputs, fromField, prepareCertificate, subjectName } from './certificate.ts';
import type { intermediateCertConfig } from './config.ts';
import { refused } from './errors.ts';
import { readCertificateInput, readCsrInput, readPublicKeyInput } from './inputs.ts';
import { checkValidity, INTERMEDIATE_LINT_DAYS, INTERMEDIATE_MAX_YEARS, isoSeconds } from './rules.ts';

type NameConstraintsConfig = NonNullable<z.infer<typeof intermediateCertConfig>['certificate']['name-constraints']>;

function subtreesOf(nc: NameConstraintsConfig, which: 'permitted' | 'excluded'): NameSubtrees | undefined {
  const s = { dns: nc[`${which}-dns`], ip: nc[`${which}-ip`], email: nc[`${which}-email`] };
  return s.dns.length + s.ip.length + s.email.length > 0 ? s : undefined;
}

/** AIA with OCSP and caIssuers; each URL checked on its own so a refusal names its field. */
export function aia(ocsp: string, caIssuers: string) {
  fromField('certificate.ocsp-url', () => authorityInfoAccess({ ocsp: [ocsp] }));
  fromField('certificate.issuer-url', () => authorityInfoAccess({ caIssuers: [caIssuers] }));
  return authorityInfoAccess({ ocsp: [ocsp], caIssuers: [caIssuers] });
}

export async function prepareIntermediateCert(config: z.infer<typeof intermediateCertConfig>, env: CeremonyEnv): Promise<Prepared> {
  const c = config.certificate;
  const issuer = readCertificateInput('inputs.issuer-certificate', config.inputs['issuer-certificate'], env.baseDir, { issuesCertificates: true });
  const subjectKey = config.inputs['public-key'] !== undefined
    ? readPublicKeyInput('inputs.public-key', config.inputs['public-key'], env.baseDir)
    : await readCsrInput('inputs.csr', config.inputs.csr!, env.baseDir);
  if (bytesEqual(subjectKey.spki, issuer.info.spki)) throw refused(subjectKey.field, "the subject key is the issuer's own key: an issuing CA needs a key of its own");
  checkValidity('certificate', c['not-before'], c['not-after'], INTERMEDIATE_MAX_YEARS, { info: issuer.info, field: 'inputs.issuer-certificate' });
  const subject = subjectName(c.subject, 'certificate.subject');
  const algorithm = algorithmFor(issuer.keyType, c['signature-algorithm'], 'certificate.signature-algorithm');

  const nc = c['name-constraints'];
  const extensions = [
    basicConstraints({ ca: true, pathLen: 0 }),
    keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign']),
    subjectKeyIdentifier(subjectKey.spki),
    authorityKeyIdentifier(issuer.info.keyIdentifier),
    fromField('certificate.crl-url', () => crlDistributionPoints([c['crl-url']])),
    aia(c['ocsp-url'], c['issuer-url']),
    ...(nc
      ? [
          fromField('certificate.name-constraints', () => {
            const permitted = subtreesOf(nc, 'permitted');
            const excluded = subtreesOf(nc, 'excluded');
            if (!permitted && !excluded) throw refused('certificate.name-constraints', 'no permitted or excluded names given: leave the section out instead');
            return nameConstraints({ ...(permitted ? { permitted } : {}), ...(excluded ? { excluded } : {}) });
          }),
        ]
      : []),
  ];
  const outputs = ceremonyOutputs(config.outputs, env.baseDir);
  return prepareCertificate(
    {
      type: 'intermediate-cert',
      title: `issuing-CA certificate "${c.subject.CN}"`,
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
        spki: subjectKey.spki,
        signatureAlgorithm: algorithm,
        extensions,
      }),
      lint: { ca: true, maxValidityDays: INTERMEDIATE_LINT_DAYS, issuerCertificate: issuer.der },
      output: outputs.certificate,
      inputs: [issuer, subjectKey],
      details: {
        issuerSpkiSha256: issuer.spkiSha256,
        subjectSpkiSha256: subjectKey.spkiSha256,
        notBefore: isoSeconds(c['not-before']),
        notAfter: isoSeconds(c['not-after']),
      },
    },
    env,
  );
}
