/** `strongroom db …`: schema migrations on DATABASE_URL, or the embedded database in the data directory. */
import { parseArgs } from 'node:util';
import { databaseUrlFromEnv, openDatabase } from '../db/connect.ts';
import { migrateLatest, migrateRollbackAll, migrationStatus } from '../db/migrate.ts';
import { EXIT, UsageError } from './cli-error.ts';
import { dataDirOf } from './hsm-options.ts';

export const DB_USAGE = `strongroom db <command> [--data-dir DIR]
  migrate            apply pending migrations (DATABASE_URL, else the embedded database in the data directory)
  status             list applied and pending migrations
  rollback-all       revert every migration (dev and tests)`;

export async function dbCommand(argv: string[], out: (line: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === 'help' || sub === '--help') {
    out(DB_USAGE);
    return sub ? EXIT.ok : EXIT.usage;
  }
  if (!['migrate', 'status', 'rollback-all'].includes(sub)) throw new UsageError(`unknown db command "${sub}"\n${DB_USAGE}`);
  let flags: { 'data-dir'?: string };
  try {
    flags = parseArgs({ args: rest, options: { 'data-dir': { type: 'string' } }, strict: true }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const url = databaseUrlFromEnv();
  const db = await openDatabase({ ...(url ? { url } : {}), dataDir: dataDirOf(flags) });
  try {
    if (sub === 'migrate') {
      const applied = await migrateLatest(db);
      out(applied.length ? `applied ${applied.length} migration(s):\n  ${applied.join('\n  ')}` : 'database is up to date');
    } else if (sub === 'status') {
      const s = await migrationStatus(db);
      for (const m of s.completed) out(`applied  ${m}`);
      for (const m of s.pending) out(`pending  ${m}`);
    } else {
      const reverted = await migrateRollbackAll(db);
      out(`reverted ${reverted.length} migration(s)`);
    }
  } finally {
    await db.destroy();
  }
  return EXIT.ok;
}
