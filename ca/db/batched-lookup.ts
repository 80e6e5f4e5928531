/**
 * Lookups of concurrent requests asked in one query (bearer tokens, key-compromise checks): each caller still waits
 * for its own answer from the database, but the database sees one statement per batch. Batching is GroupCommit's:
 * a lone lookup goes at once, lookups arriving while one is in flight wait for the next batch.
 */
import { GroupCommit, type GroupCommitOptions } from './group-commit.ts';

interface Lookup<K, V> {
  key: K;
  value?: V;
  error?: unknown;
}

export class BatchedLookup<K, V> {
  private readonly batches: GroupCommit<Lookup<K, V>>;

  /** `fetch` answers for every key it is given that exists; a throw fails the whole batch. */
  constructor(fetch: (keys: K[]) => Promise<ReadonlyMap<K, V>>, options: GroupCommitOptions = { delayMs: 2, maxBatch: 256, maxConcurrent: 2 }) {
    this.batches = new GroupCommit(async (group) => {
      try {
        const found = await fetch(group.map((l) => l.key));
        for (const l of group) l.value = found.get(l.key);
      } catch (e) {
        for (const l of group) l.error = e;
      }
    }, options);
  }

  async get(key: K): Promise<V | undefined> {
    const lookup: Lookup<K, V> = { key };
    await this.batches.record(lookup);
    if (lookup.error !== undefined) throw lookup.error;
    return lookup.value;
  }
}
