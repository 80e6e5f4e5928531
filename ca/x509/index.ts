// The X.509 core's surface, shared by the offline ceremonies and online issuance.
export * from './errors.ts';
export { algorithmIdentifier, algorithmIdentifierDer, findSignatureAlgorithm, hashOf, signatureAlgorithmOf, SIGNATURE_ALGORITHMS } from './algorithms.ts';
export { checkSerial, newSerial, serialFromBigint, serialFromBytes, serialFromHex, type RandomSource, type Serial, type SerialFindingCode } from './serial.ts';
export { buildName, isEmptyName, nameDer, namesEqual, nameToString, type NameAttributeType, type SubjectFields, type SubjectSpec } from './names.ts';
export * from './extensions.ts';
export { parseSpki, type PublicKeyInfo } from './public-key.ts';
export { buildTbsCertificate, parseTbsCertificate, type BuiltTbsCertificate, type TbsCertificateSpec } from './tbs-certificate.ts';
export { CERTIFICATE_FINDING_CODES, lintCertificate, type CertificateFindingCode, type CertificateLintContext } from './lint-certificate.ts';
export { signCertificate, verifyCertificate, verifyLintedCertificate, type SignedCertificate } from './sign-certificate.ts';
export { buildTbsCrl, cRLNumber, parseTbsCrl, type BuiltTbsCrl, type RevocationReason, type RevokedEntry, type TbsCrlSpec } from './tbs-crl.ts';
export { CRL_FINDING_CODES, lintCrl, type CrlFindingCode, type CrlLintContext } from './lint-crl.ts';
export { signCrl, verifyCrl, type SignedCrl } from './sign-crl.ts';
export { issueCertificate, issueCrl } from './issue.ts';
export { issuerInfo, issuerName, type IssuerInfo } from './issuer.ts';
export type { LintSigner } from './lint-common.ts';
export type { SignOnceOptions } from './sign-once.ts';
export { fromPem, toPem, type PemLabel } from './pem.ts';
export { x509Time } from './time.ts';
