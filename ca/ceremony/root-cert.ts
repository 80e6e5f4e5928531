/**
 * root-cert: the self-signed root certificate for the public key named in the config, signed by the HSM key that
 * must hold exactly that public key. basicConstraints CA:TRUE (critical, optional pathLen), keyUsage keyCertSign +
 * cRLSign (critical), subjectKeyIdentifier; validity at most 25 years.
 */
import type { z } from 'zod';
import { basicConstraints, keyUsage, subjectKeyIdentifier } from '../x509/index.ts';
import type { CeremonyEnv, Prepared } from './ceremony.ts';
import { algorithmFor, ceremonyOutputs, fromField, prepareCertificate, subjectName } from './certificate.ts';
import type { rootCertConfig } from './config.ts';
import { readPublicKeyInput } from './inputs.ts';
import { checkValidity, isoSeconds, ROOT_LINT_DAYS, ROOT_MAX_YEARS } from './rules.ts';

export async function prepareRootCert(config: z.infer<typeof rootCertConfig>, env: CeremonyEnv): Promise<Prepared> {
  const c = config.certificate;
  checkValidity('certificate', c['not-before'], c['not-after'], ROOT_MAX_YEARS);
  const subject = subjectName(c.subject, 'certificate.subject');
  const pub = readPublicKeyInput('inputs.public-key', config.inputs['public-key'], env.baseDir);
  const algorithm = algorithmFor(pub.keyType, c['signature-algorithm'], 'certificate.signature-algorithm');
  const extensions = fromField('certificate.path-length', () => [
    basicConstraints({ ca: true, ...(c['path-length'] !== undefined ? { pathLen: c['path-length'] } : {}) }),
    keyUsage(['keyCertSign', 'cRLSign']),
    subjectKeyIdentifier(pub.spki),
  ]);
  const outputs = ceremonyOutputs(config.outputs, env.baseDir);
  return prepareCertificate(
    {
      type: 'root-cert',
      title: `self-signed root certificate "${c.subject.CN}"`,
      signingLabel: config['signing-key'].label,
      expected: { spki: pub.spki, field: 'inputs.public-key' },
      keyType: pub.keyType,
      algorithm,
      spec: (serial) => ({ serial, issuer: subject, subject, notBefore: c['not-before'], notAfter: c['not-after'], spki: pub.spki, signatureAlgorithm: algorithm, extensions }),
      lint: { ca: true, maxValidityDays: ROOT_LINT_DAYS },
      output: outputs.certificate,
      inputs: [pub],
      details: { subjectSpkiSha256: pub.spkiSha256, notBefore: isoSeconds(c['not-before']), notAfter: isoSeconds(c['not-after']) },
    },
    env,
  );
}
