/**
 * Schema migrations. The migration modules are imported by us rather than by knex's directory loader, which
 * cannot load .ts on its own: this way they run the same under vitest, tsx and plain node with a TS loader.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
const MIGRATION_FILE = /^(\d{14}_[a-z0-9_]+)\.ts$/;

interface MigrationFile {
  /** Recorded in knex_migrations without the extension, so a later switch to compiled .js keeps the history valid. */
  name: string;
  path: string;
}

const source: Knex.MigrationSource<MigrationFile> = {
  async getMigrations() {
    return listMigrationFiles();
  },
  getMigrationName(migration) {
    return migration.name;
  },
  async getMigration(migration) {
    const mod = (await import(pathToFileURL(migration.path).href)) as Partial<Knex.Migration>;
    if (typeof mod.up !== 'function' || typeof mod.down !== 'function') {
      throw new Error(`migration ${migration.name} must export async up() and down()`);
    }
    return { up: mod.up, down: mod.down };
  },
};

export function listMigrationFiles(dir: string = MIGRATIONS_DIR): MigrationFile[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .sort()
    .map((file) => {
      const match = MIGRATION_FILE.exec(file);
      // A misnamed file would silently sort out of order; better to stop.
      if (!match?.[1]) throw new Error(`migrations/${file}: name must be <YYYYMMDDhhmmss>_<snake_case>.ts`);
      return { name: match[1], path: join(dir, file) };
    });
}

/** Applies every pending migration; returns the names applied (empty when up to date). */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource: source })) as [number, string[]];
  return applied;
}

/** Reverts every applied migration, newest first; returns the names reverted. knex's own bookkeeping tables stay. */
export async function migrateRollbackAll(db: Knex): Promise<string[]> {
  const [, reverted] = (await db.migrate.rollback({ migrationSource: source }, true)) as [number, string[]];
  return reverted;
}

export interface MigrationStatus {
  completed: string[];
  pending: string[];
}

export async function migrationStatus(db: Knex): Promise<MigrationStatus> {
  const [completed, pending] = (await db.migrate.list({ migrationSource: source })) as [{ name: string }[], MigrationFile[]];
  return { completed: completed.map((m) => m.name), pending: pending.map((m) => m.name) };
}
