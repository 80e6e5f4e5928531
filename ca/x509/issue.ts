/**
 * The whole principle in one place: build the TBS, lint it, and only if the lint passes sign those very bytes
 * once and check the result. Ceremonies and online issuance call these rather than the steps one by one, so no
 * path signs an unlinted TBS.
 */
import type { Signer } from '../../hsm/index.ts';
import { assertNoLintErrors, type Finding } from './errors.ts';
import { lintCertificate, type CertificateFindingCode, type CertificateLintContext } from './lint-certificate.ts';
import { lintCrl, type CrlFindingCode, type CrlLintContext } from './lint-crl.ts';
import { signCertificate, type SignedCertificate } from './sign-certificate.ts';
import { signCrl, type SignedCrl } from './sign-crl.ts';
import type { SignOnceOptions } from './sign-once.ts';
import { buildTbsCertificate, type TbsCertificateSpec } from './tbs-certificate.ts';
import { buildTbsCrl, type TbsCrlSpec } from './tbs-crl.ts';

/** Throws LintError (nothing signed) or SignatureCheckError (signed once, result refused); returns the warnings too. */
export async function issueCertificate(
  spec: TbsCertificateSpec,
  signer: Signer,
  lint: Omit<CertificateLintContext, 'signer'>,
  options: SignOnceOptions = {},
): Promise<SignedCertificate & { warnings: Finding<CertificateFindingCode>[] }> {
  const { der } = buildTbsCertificate(spec);
  const warnings = assertNoLintErrors(lintCertificate(der, { ...lint, signer }));
  return { ...(await signCertificate(der, signer, options)), warnings };
}

export async function issueCrl(
  spec: TbsCrlSpec,
  signer: Signer,
  lint: Omit<CrlLintContext, 'signer'>,
  options: SignOnceOptions = {},
): Promise<SignedCrl & { warnings: Finding<CrlFindingCode>[] }> {
  const { der } = buildTbsCrl(spec);
  const warnings = assertNoLintErrors(lintCrl(der, { ...lint, signer }));
  return { ...(await signCrl(der, signer, options)), warnings };
}
