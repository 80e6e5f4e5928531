/** Readiness of the database: `select 1` answered within a short time (a stopped server, an exhausted pool or a
 * destroyed handle all read as not ready). */
import type { Knex } from 'knex';

export async function pingDatabase(db: Knex, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([db.raw('select 1').then(() => true as const), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
