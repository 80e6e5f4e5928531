/**
 * What the audit log says about restore drills: when the last one succeeded or failed, and the newest backup a
 * successful one restored. Read from audit_log (entries `drill.restore`, written by ca/drill/restore-drill.ts) so
 * the metrics survive restarts and see drills run by any process or host sharing the database.
 */
import type { Knex } from 'knex';

export const DRILL_ACTION = 'drill.restore';

export interface LastDrills {
  drillSuccess: Date | undefined;
  drillFailure: Date | undefined;
  /** details.newestBackupAt of the last successful drill. */
  backup: Date | undefined;
}

type Row = { at: Date | string; backup: string | null };

export class DrillRecordStore {
  constructor(private readonly db: Knex) {}

  async last(): Promise<LastDrills> {
    const newest = (outcome: string) =>
      this.db('audit_log')
        .select('at', this.db.raw("details->>'newestBackupAt' as backup"))
        .where({ action: DRILL_ACTION })
        .whereRaw("details->>'outcome' = ?", [outcome])
        .orderBy('seq', 'desc')
        .first() as Promise<Row | undefined>;
    const [ok, failed] = await Promise.all([newest('ok'), newest('failed')]);
    const date = (v: Date | string | null | undefined) => (v === null || v === undefined ? undefined : new Date(v));
    return { drillSuccess: date(ok?.at), drillFailure: date(failed?.at), backup: date(ok?.backup) };
  }
}
