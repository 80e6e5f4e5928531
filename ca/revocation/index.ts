// Revocation, certificate status and CRLs.
export { CrlScheduler, type CrlSchedulerDeps } from './crl-scheduler.ts';
export { CrlService, type CrlServiceDeps } from './crl-service.ts';
export { ADMIN_ONLY_REASONS, isRevocationReason, REFUSED_REASONS, REVOCATION_REASONS, type ApiRevocationReason } from './reasons.ts';
export { normalizeSerial, RevocationService, type CertificateActor, type CertificateView, type RevocationDeps } from './revocation-service.ts';
