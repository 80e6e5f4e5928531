/**
 * The audit log: every issuance, revocation, client change, CA import and CRL appends one entry, chained to the
 * one before by its hash (entry.ts says exactly what is hashed). The table refuses UPDATE, DELETE and TRUNCATE;
 * the chain makes what a table owner could still do (disable the triggers, rewrite rows) detectable by
 * verifyAudit, and checkpoints of the head (head(), later time-stamped by the TSA) make removal from the end
 * detectable too.
 */
import { canonicalJson } from '../encoding/canonical-json.ts';
import { appendLockedMany, readChainHead, type AuditDb, type AuditTrx, type ChainHead, type NewAuditRow } from '../db/audit-store.ts';
import { checkEvent, entryHash, GENESIS_HASH, type AuditDetails, type AuditEntry, type AuditEvent, type AuditHead } from './entry.ts';

export class AuditLog {
  constructor(private readonly db: AuditDb) {}

  /**
   * Appends one entry and returns it as stored. Appends are serialised across processes (a transaction-scoped
   * advisory lock, held until the transaction ends), so seqs are gapless and each entry links to the one committed
   * before it. With `trx` the entry commits or rolls back with the caller's work; the lock is then held until the
   * caller's COMMIT, so append last and commit promptly. `trx` must be READ COMMITTED (PostgreSQL's default).
   * Refuses an invalid event (AuditEventError) before touching the database.
   */
  async append(event: AuditEvent, trx?: AuditTrx): Promise<AuditEntry> {
    const [entry] = await this.appendMany([event], trx);
    return entry!;
  }

  /**
   * Appends several entries in order, chained one to the next, under one lock with one INSERT (group commit of
   * issuances): the same entries, hashes and guarantees as appending them one by one in that order, in one
   * transaction. Every event is checked before the database is touched.
   */
  async appendMany(events: readonly AuditEvent[], trx?: AuditTrx): Promise<AuditEntry[]> {
    return this.appendManyVia(events, async (build) => {
      await appendLockedMany(this.db, trx, build);
    });
  }

  /**
   * appendMany through `write`, which runs `build` under the append lock with the head and time it read, and inserts
   * the rows it returns, in the transaction `write` owns (CertificateStore.markIssuedManyWithAudit: certificates
   * and their entries in one pipelined transaction). Every event is checked before `write` is called.
   */
  async appendManyVia(events: readonly AuditEvent[], write: (build: (head: ChainHead, at: string) => NewAuditRow[]) => Promise<void>): Promise<AuditEntry[]> {
    const checked = events.map((e) => checkEvent(e));
    const entries: AuditEntry[] = [];
    if (checked.length === 0) return entries;
    await write((head, at) => {
      entries.length = 0;
      let prev = { seq: head.seq, hash: head.hash ?? GENESIS_HASH };
      return checked.map(({ actor, action, subject, details }) => {
        const content = { seq: prev.seq + 1, at, actor, action, subject, details, prevHash: prev.hash };
        const detailsJson = canonicalJson(details);
        const hash = entryHash(content);
        // Detached from the caller's object: what is returned is what was hashed and stored.
        entries.push({ ...content, details: JSON.parse(detailsJson) as AuditDetails, hash });
        prev = { seq: content.seq, hash };
        return { seq: content.seq, at, actor, action, subject, detailsJson, prevHash: content.prevHash, hash };
      });
    });
    return entries;
  }
}

/** The chain head: seq and hash of the last entry, `{ seq: 0, hash: 64 zeros }` for an empty log. */
export async function head(db: AuditDb | AuditTrx): Promise<AuditHead> {
  const h = await readChainHead(db);
  return { seq: h.seq, hash: h.hash ?? GENESIS_HASH };
}
