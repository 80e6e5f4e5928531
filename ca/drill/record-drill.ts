/**
 * A drill's result in the audit log (action `drill.restore`): the record operators and auditors read, and what
 * the CA server's drill and backup gauges are read from (db/drill-record-store.ts), so they survive restarts.
 */
import type { AuditLog } from '../audit/index.ts';
import { DRILL_ACTION } from './db/drill-record-store.ts';
import type { DrillResult } from './restore-drill.ts';

export async function recordDrill(audit: AuditLog, actor: string, startedAt: Date, finishedAt: Date, result: { ok: DrillResult } | { failed: unknown; scratchToken: string }): Promise<void> {
  const durationMs = Math.max(0, Math.round(finishedAt.getTime() - startedAt.getTime()));
  if ('ok' in result) {
    const r = result.ok;
    await audit.append({
      actor,
      action: DRILL_ACTION,
      subject: r.scratchToken,
      details: { outcome: 'ok', newestBackupAt: r.newestBackupAt, keys: r.keys.map((k) => ({ ...k })), destroyed: r.destroyed, durationMs },
    });
    return;
  }
  const e = result.failed;
  await audit.append({
    actor,
    action: DRILL_ACTION,
    subject: result.scratchToken,
    details: { outcome: 'failed', error: e instanceof Error ? `${e.name}: ${e.message}` : String(e), durationMs },
  });
}
