/**
 * A failover (primary → DR), losing every token, and the fail-back each land on the hash-chained audit log once,
 * in order; the token serving at start is not a switch; a failed append is retried on the next look.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, verifyAudit } from '../../ca/audit/index.ts';
import { migrateLatest } from '../../ca/db/migrate.ts';
import { ServingTokenAudit } from '../../ca/server/serving-token-audit.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase();
  await migrateLatest(db.knex);
}, 60_000);
afterAll(async () => db?.drop());

describe('ServingTokenAudit', () => {
  it('records each change of the serving token once, and verifies', async () => {
    const log = new AuditLog(db.knex);
    let serving: string | undefined = 'primary';
    let failNext = false;
    const changes: string[] = [];
    const watcher = new ServingTokenAudit({
      serving: () => serving,
      append: (e) => (failNext ? ((failNext = false), Promise.reject(new Error('database down'))) : log.append(e)),
      intervalMs: 60_000,
      onChange: (from, to) => changes.push(`${from}→${to}`),
    });
    await watcher.check();
    serving = 'dr';
    failNext = true;
    await watcher.check(); // the append fails: not recorded yet
    await watcher.check(); // retried
    await watcher.check(); // nothing new
    serving = undefined;
    await watcher.check();
    serving = 'primary';
    await watcher.check();
    await watcher.stop();

    expect(changes).toEqual(['primary→dr', 'dr→undefined', 'undefined→primary']);
    const rows = (await db.knex('audit_log').where({ action: 'hsm.serving' }).orderBy('seq').select('subject', 'details')) as { subject: string; details: unknown }[];
    expect(rows.map((r) => [r.subject, typeof r.details === 'string' ? JSON.parse(r.details) : r.details])).toEqual([
      ['dr', { from: 'primary', to: 'dr' }],
      ['none', { from: 'dr', to: 'none' }],
      ['primary', { from: 'none', to: 'primary' }],
    ]);
    expect((await verifyAudit(db.knex)).ok).toBe(true);
  });
});
