/**
 * exportAudit: the audit log as JSON lines for a SIEM, streamed in seq order. Each line is the canonical JSON of
 * one row as stored — { action, actor, at, details, hash, prevHash, seq, subject } — so a consumer re-derives the
 * hash from the line itself (drop `hash`, canonicalise, SHA-256; see entry.ts) and checks each prevHash against the
 * line before. Rows are exported as they are, tampered or not: verifying is verifyAudit's job.
 */
import { canonicalJson } from '../encoding/canonical-json.ts';
import { streamAuditRows, type AuditDb } from '../db/audit-store.ts';

export interface ExportRange {
  /** First seq to export (inclusive); default: from the start. */
  fromSeq?: number;
  /** Last seq to export (inclusive); default: to the end, including rows appended while exporting. */
  toSeq?: number;
}

export class AuditExportError extends Error {
  override readonly name = 'AuditExportError';
}

/**
 * Calls `write` once per row with its line (no trailing newline), awaiting it: a writer that returns a promise
 * until its sink has drained gets backpressure. Returns the number of rows written.
 */
export async function exportAudit(db: AuditDb, range: ExportRange, write: (line: string) => void | Promise<void>, options: { batchSize?: number } = {}): Promise<{ rows: number }> {
  for (const [name, v] of [['fromSeq', range.fromSeq], ['toSeq', range.toSeq]] as const) {
    if (v !== undefined && !Number.isSafeInteger(v)) throw new AuditExportError(`${name} must be an integer`);
  }
  if (range.fromSeq !== undefined && range.toSeq !== undefined && range.fromSeq > range.toSeq) {
    throw new AuditExportError(`fromSeq ${range.fromSeq} is after toSeq ${range.toSeq}`);
  }
  let rows = 0;
  for await (const r of streamAuditRows(db, range, options.batchSize ?? 1000)) {
    if (typeof r.seq === 'bigint') throw new AuditExportError(`seq ${r.seq} is beyond 2^53: not an entry append writes`);
    // Microseconds are kept when present (append never writes them): the line shows the row exactly as stored.
    const at = r.atMicros.endsWith('000') ? `${r.atMicros.slice(0, -3)}Z` : `${r.atMicros}Z`;
    await write(canonicalJson({ seq: r.seq, at, actor: r.actor, action: r.action, subject: r.subject, details: r.details, prevHash: r.prevHash, hash: r.hash }));
    rows += 1;
  }
  return { rows };
}
