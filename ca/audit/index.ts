/** The append-only, hash-chained audit log: append, verify, export, checkpoints of the head. */
export { AuditLog, head } from './audit-log.ts';
export { AuditEventError, entryHash, GENESIS_HASH } from './entry.ts';
export type { AuditDetails, AuditEntry, AuditEntryContent, AuditEvent, AuditHead, AuditJson } from './entry.ts';
export { verifyAudit } from './verify.ts';
export type { AuditProblem, AuditProblemKind, AuditVerifyReport, VerifyOptions } from './verify.ts';
export { AuditExportError, exportAudit } from './export.ts';
export type { ExportRange } from './export.ts';
export { AuditStoreError } from '../db/audit-store.ts';
export type { AuditDb, AuditTrx } from '../db/audit-store.ts';
