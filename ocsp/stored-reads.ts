/**
 * Reads of pre-signed answers that missed memory, gathered over one event-loop turn into one query per issuer and
 * hash algorithm. A CA with more unexpired certificates than the responder's cache holds sends a stream of such
 * misses to the database; one query per request cost ~330 µs of the responder's CPU each (a cached POST that missed
 * answered 3,206/s against ~40,000/s from memory, docs/benchmarks.md), most of it per query rather than per row.
 * Concurrent requests for one serial are already joined upstream (OcspResponder.slotFor); any that reach here still
 * share a row.
 */
import type { HashAlgorithm, StoredResponse } from './db/ocsp-store.ts';

export type ReadStored = (caId: number, hashAlgorithm: HashAlgorithm, serials: readonly string[]) => Promise<StoredResponse[]>;

interface Waiter {
  resolve(row: StoredResponse | undefined): void;
  reject(err: unknown): void;
}

/** Serials per query: keeps one statement's parameters and one result well within what PostgreSQL handles at once. */
export const MAX_BATCH = 500;

export class StoredReads {
  /** "caId:alg" → serial → callers waiting for it. */
  private waiting = new Map<string, { caId: number; alg: HashAlgorithm; serials: Map<string, Waiter[]> }>();
  private scheduled = false;

  constructor(
    private readonly read: ReadStored,
    private readonly maxBatch = MAX_BATCH,
  ) {}

  /** The stored answer for this serial, or undefined; rejects with the query's error. */
  get(caId: number, serial: string, alg: HashAlgorithm): Promise<StoredResponse | undefined> {
    return new Promise((resolve, reject) => {
      const key = `${caId}:${alg}`;
      let group = this.waiting.get(key);
      if (!group) this.waiting.set(key, (group = { caId, alg, serials: new Map() }));
      const waiters = group.serials.get(serial);
      if (waiters) waiters.push({ resolve, reject });
      else group.serials.set(serial, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        // After this turn's I/O callbacks: every request read in this turn has asked by then.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const groups = this.waiting;
    this.waiting = new Map();
    for (const { caId, alg, serials } of groups.values()) {
      const all = [...serials.keys()];
      for (let at = 0; at < all.length; at += this.maxBatch) {
        const batch = all.slice(at, at + this.maxBatch);
        // Through a promise even if read throws at once: in a setImmediate callback that would be uncaught.
        Promise.resolve()
          .then(() => this.read(caId, alg, batch))
          .then(
            (rows) => {
              const bySerial = new Map(rows.map((r) => [r.serial, r]));
              for (const s of batch) for (const w of serials.get(s)!) w.resolve(bySerial.get(s));
            },
            (err: unknown) => {
              for (const s of batch) for (const w of serials.get(s)!) w.reject(err);
            },
          );
      }
    }
  }
}
