/**
 * The OCSP responder (RFC 6960, RFC 5019 profile). Answers come, in order of cost:
 *   1. memory, by the exact request bytes — no parsing (answerFromMemory);
 *   2. memory or the database, by issuer + serial: pre-signed answers, refreshed in the background (Presigner);
 *   3. signed live through the HSM pool: requests with a nonce, several CertIDs, a CertID spelled differently from
 *      ours, serials with no stored answer. Live answers for a single CertID are kept like pre-signed ones.
 * Nothing here throws to the caller: every failure is an OCSP status (malformedRequest, unauthorized, tryLater,
 * internalError). A responder without an HSM pool serves what was pre-signed and answers tryLater for the rest.
 */
import { hash } from 'node:crypto';
import { isHsmError, type SigningPool } from '../hsm/index.ts';
import { AnswerCache, slotKey, type Slot } from './answer-cache.ts';
import { answerStatus, type StatusAnswer } from './answer-status.ts';
import { certIdDer } from './cert-id.ts';
import type { HashAlgorithm, IssuerRow, OcspStore, SerialStatus, StoredResponse } from './db/ocsp-store.ts';
import {
  issuerHashes,
  OCSP_INTERNAL_ERROR,
  OCSP_MALFORMED_REQUEST,
  OCSP_TRY_LATER,
  OCSP_UNAUTHORIZED,
  OcspMalformed,
  parseOcspRequest,
  type OcspCertId,
  type ParsedOcspRequest,
  type SingleResponseInput,
} from './encoding/index.ts';
import { responderIdentity, type ResponderIdentity } from './responder-identity.ts';
import { PresignCursor } from './presign-cursor.ts';
import { StatusCache } from './status-cache.ts';
import { StoredReads } from './stored-reads.ts';

export type ResponderStore = Pick<OcspStore, 'issuers' | 'responders' | 'status' | 'storedMany' | 'save' | 'changedSince' | 'latestRevision' | 'due' | 'dueSince' | 'presignWatermark'>;

export interface OcspAnswer {
  der: Uint8Array;
  /** Set for answers that may be cached by HTTP caches (no nonce): RFC 5019 §6.2 headers come from it. */
  cacheable?: Slot;
  /** How the answer was produced, for metrics. */
  source: 'memory' | 'stored' | 'live' | 'error';
}

export interface OcspResponderOptions {
  store: ResponderStore;
  /** Absent: serve pre-signed answers only. */
  pool?: SigningPool;
  clock?: () => Date;
  /** thisUpdate → nextUpdate (default 4 days). */
  validitySeconds?: number;
  /** Re-sign when this fraction of the window has passed (default 0.5). */
  refreshFraction?: number;
  /** Window of `unknown` answers, which are kept in memory only (default 1 hour). */
  unknownValiditySeconds?: number;
  cacheSlots?: number;
  cacheRequests?: number;
  /** Live requests are answered tryLater at once while more than this many high-priority signatures are queued. */
  shedQueuedAbove?: number;
  /** Deadline of one live signature; past it the client gets tryLater. */
  signDeadlineMs?: number;
  /** How often a pre-signing pass looks at every unexpired certificate (presign-cursor.ts; default 10 minutes). */
  presignSweepMs?: number;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

interface Issuer {
  row: IssuerRow;
  hashes: ReturnType<typeof issuerHashes>;
}

const DAY = 86_400;
/**
 * The pre-signing watermark (presign-cursor.ts): certificates younger than settleSeconds may still be committing; a
 * reservation older than lifetimeSeconds is an orphan (an issuance takes seconds from reservation to commit) and does
 * not hold the watermark back.
 */
const WATERMARK = { settleSeconds: 5, lifetimeSeconds: 600 };
const requestKey = (der: Uint8Array) => Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('latin1');
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

class Unavailable extends Error {}

const wholeSeconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

export class OcspResponder {
  private readonly cache: AnswerCache;
  private readonly clock: () => Date;
  private readonly validityMs: number;
  private readonly refreshFraction: number;
  private readonly unknownValidityMs: number;
  private readonly signDeadlineMs: number;
  private issuersByHash = new Map<string, Issuer>();
  private issuersById = new Map<number, Issuer>();
  private identities = new Map<number, ResponderIdentity>();
  private revision = 0n;
  private readonly pending = new Map<string, Promise<Slot>>();
  private readonly statuses: StatusCache;
  /** Status reads in flight, by serial: live answers that miss together share one (see statusOf). */
  private readonly statusReads = new Map<string, { mark: number; answer: Promise<StatusAnswer> }>();
  private readonly presignCursor: PresignCursor;
  private readonly storedReads: StoredReads;

  constructor(private readonly o: OcspResponderOptions) {
    this.clock = o.clock ?? (() => new Date());
    this.validityMs = (o.validitySeconds ?? 4 * DAY) * 1000;
    this.refreshFraction = o.refreshFraction ?? 0.5;
    this.unknownValidityMs = (o.unknownValiditySeconds ?? 3600) * 1000;
    this.signDeadlineMs = o.signDeadlineMs ?? 2000;
    this.cache = new AnswerCache(o.cacheSlots ?? 200_000, o.cacheRequests ?? 200_000);
    this.statuses = new StatusCache(o.cacheSlots ?? 200_000, 60_000);
    this.presignCursor = new PresignCursor(o.presignSweepMs ?? 600_000);
    this.storedReads = new StoredReads((caId, alg, serials) => o.store.storedMany(caId, alg, serials));
  }

  /** Issuers and their current responder certificates; call at start, on a schedule, and after a rotation. */
  async reload(): Promise<void> {
    const issuers = await this.o.store.issuers();
    const byHash = new Map<string, Issuer>();
    const byId = new Map<number, Issuer>();
    for (const row of issuers) {
      const issuer = { row, hashes: issuerHashes(row.certificateDer) };
      byId.set(row.id, issuer);
      for (const alg of ['sha1', 'sha256'] as const) byHash.set(`${alg}:${hex(issuer.hashes[alg].name)}:${hex(issuer.hashes[alg].key)}`, issuer);
    }
    const identities = new Map<number, ResponderIdentity>();
    // Newest first: the first valid responder of each issuer is the one that signs.
    for (const row of await this.o.store.responders(this.clock())) {
      if (!identities.has(row.caId) && byId.has(row.caId)) {
        const current = this.identities.get(row.caId);
        identities.set(row.caId, current?.row.id === row.id ? current : responderIdentity(row, this.o.pool));
      }
    }
    this.issuersByHash = byHash;
    this.issuersById = byId;
    this.identities = identities;
    if (this.revision === 0n) this.revision = await this.o.store.latestRevision();
  }

  /** Picks up answers other processes wrote (a revocation signed elsewhere); returns how many slots changed. */
  async sync(limit = 1000): Promise<number> {
    let changed = 0;
    const now = this.clock();
    for (const row of await this.o.store.changedSince(this.revision, limit)) {
      this.revision = row.revision;
      // Only a revoked answer can mean a status changed. Forgetting also tells every load in flight that its read
      // may be stale, and such a load does not keep what it signed; pre-signing passes and answers saved by requests
      // write good rows every second, and forgetting on those kept almost nothing a load signed.
      if (row.certStatus !== 'good') this.statuses.forget(`${row.caId}:${row.serial}`);
      const slot = this.cache.slot(slotKey(row.caId, row.serial, row.hashAlgorithm));
      if (slot && this.supersedes(row, slot, now)) {
        this.cache.put(this.slotFromStored(row, slot.certIdDer));
        changed++;
      }
    }
    return changed;
  }

  /**
   * Whether a stored answer should replace the one in memory: it says something else (a revocation; a revoked
   * answer re-signed), or the one in memory is no longer fresh, or it is newer and the one in memory has reached its
   * refresh point (another process re-signed it, as this one would have). An answer of the same status that only
   * came a second or two later — a pre-signing pass that raced a live answer and stored its own last — would only
   * change the bytes, and the ETag, that a repeated GET gets.
   */
  private supersedes(row: StoredResponse, slot: Slot, now: Date): boolean {
    if (row.certStatus !== slot.status || !this.fresh(slot, now)) return true;
    if (row.thisUpdate.getTime() > slot.thisUpdate.getTime() && now >= this.refreshPoint(slot.thisUpdate, slot.nextUpdate)) return true;
    return row.certStatus === 'revoked' && !Buffer.from(row.der).equals(Buffer.from(slot.der));
  }

  /** The hot path: an answer from memory for exactly these bytes, or undefined. Synchronous. */
  answerFromMemory(request: Uint8Array): OcspAnswer | undefined {
    const slot = this.cache.forRequest(requestKey(request));
    if (!slot || !this.fresh(slot, this.clock())) return undefined;
    return { der: slot.der, cacheable: slot, source: 'memory' };
  }

  async respond(request: Uint8Array): Promise<OcspAnswer> {
    return this.answerFromMemory(request) ?? this.respondUncached(request);
  }

  /** respond() for a caller that has just asked answerFromMemory (the HTTP handler): the memory lookup is not repeated. */
  async respondUncached(request: Uint8Array): Promise<OcspAnswer> {
    let parsed: ParsedOcspRequest;
    try {
      parsed = parseOcspRequest(request);
    } catch (e) {
      if (e instanceof OcspMalformed) return { der: OCSP_MALFORMED_REQUEST, source: 'error' };
      return this.internalError(e);
    }
    try {
      const issuer = this.issuerOf(parsed.certIds);
      if (!issuer) return { der: OCSP_UNAUTHORIZED, source: 'error' };
      const [only] = parsed.certIds;
      // A responder that cannot sign answers a nonce request with the pre-signed answer, without the nonce (RFC 6960
      // §4.4.1 lets a responder leave it out; clients that insist on it retry elsewhere).
      const canSign = this.identities.get(issuer.row.id)?.signer !== undefined;
      if (parsed.certIds.length === 1 && (parsed.nonce === undefined || !canSign) && only!.serial !== '') {
        const slot = await this.slotFor(issuer, only!.hashAlgorithm, only!.serial);
        if (sameBytes(slot.certIdDer, only!.der)) {
          this.cache.link(requestKey(request), slot);
          return { der: slot.der, cacheable: slot, source: 'stored' };
        }
      }
      return { der: await this.signLive(issuer, parsed), source: 'live' };
    } catch (e) {
      if (e instanceof Unavailable || isHsmError(e)) return { der: OCSP_TRY_LATER, source: 'error' };
      return this.internalError(e);
    }
  }

  /**
   * Signs the current status of one certificate again and stores it (both CertID hashes), replacing what memory
   * and the database hold — the revocation path calls this before answering its caller. If it cannot sign, the
   * stored answer becomes tryLater (marked revoked, so no process keeps serving `good`) until the Presigner
   * succeeds.
   */
  async refresh(caId: number, serial: string): Promise<void> {
    const issuer = this.issuersById.get(caId);
    if (!issuer) return;
    const held = (['sha1', 'sha256'] as const).map((alg) => this.cache.slot(slotKey(caId, serial, alg))).filter((s): s is Slot => s !== undefined);
    for (const s of held) s.held = true;
    this.statuses.forget(`${caId}:${serial}`);
    try {
      const mark = this.statuses.mark();
      const row = await this.o.store.status(caId, serial);
      if (!row) return;
      const answer = answerStatus(row);
      this.statuses.set(`${caId}:${serial}`, answer, this.clock().getTime(), mark);
      const now = this.clock();
      try {
        const fresh = await Promise.all((['sha1', 'sha256'] as const).map((alg) => this.signStored(issuer, alg, serial, row, answer, now, 'high')));
        if (answer.storable) await this.o.store.save(fresh.map((f) => f.stored));
        for (const f of fresh) this.cache.put(f.slot);
      } catch (e) {
        // Whatever was cached must not be served any more: the slot's next request signs again (or answers tryLater).
        for (const s of held) this.cache.put({ ...s, der: OCSP_TRY_LATER, nextUpdate: new Date(0) });
        const responder = this.identities.get(caId);
        if (answer.status.kind === 'revoked' && responder) {
          const placeholder = { certificateId: row.certificateId, certStatus: 'revoked' as const, der: OCSP_TRY_LATER, producedAt: now, thisUpdate: now, nextUpdate: new Date(now.getTime() + 1000), refreshAt: now, responderId: responder.row.id };
          await this.o.store.save([{ ...placeholder, hashAlgorithm: 'sha1' }, { ...placeholder, hashAlgorithm: 'sha256' }]);
        }
        throw e;
      }
    } finally {
      for (const s of held) s.held = false;
    }
  }

  /** Signs and stores due answers (missing, half-expired, out of step with a revocation); returns how many. */
  async presignDue(limit = 200): Promise<number> {
    const now = this.clock();
    const mark = this.statuses.mark();
    const afterId = this.presignCursor.plan(now.getTime());
    const watermark = await this.o.store.presignWatermark(this.presignCursor.from, WATERMARK);
    const due = afterId === undefined ? await this.o.store.due(now, limit) : await this.o.store.dueSince(now, limit, afterId);
    // One log line per pass, not per answer: under overload every answer of a pass fails the same way.
    const failed: { serial: string; err: unknown }[] = [];
    // Rows of an issuer with no responder key yet (its certificate is on its way): looked at again, not passed by.
    let unsignable = 0;
    const signed = await Promise.all(
      due.map(async (row) => {
        const issuer = this.issuersById.get(row.caId);
        if (!issuer || !this.identities.get(row.caId)?.signer) {
          unsignable++;
          return undefined;
        }
        const answer = answerStatus(row);
        if (!answer.storable) return undefined;
        try {
          return await this.signStored(issuer, 'sha1', row.serial, row, answer, now, 'low');
        } catch (err) {
          failed.push({ serial: row.serial, err });
          return undefined;
        }
      }),
    );
    if (failed.length > 0) this.o.log?.warn({ err: failed[0]!.err, failed: failed.length, of: due.length, serials: failed.slice(0, 5).map((f) => f.serial) }, 'pre-signing OCSP answers failed; retried on the next pass');
    // A request that missed may have signed and kept this serial's answer while the pass was signing it: that one
    // stays in memory (a GET repeated a moment later gets the same bytes and ETag), the pass's is not put over it.
    const passSigned = wholeSeconds(now).getTime();
    const keptNewer = (key: string) => {
      const kept = this.cache.slot(key);
      return kept !== undefined && this.fresh(kept, this.clock()) && kept.thisUpdate.getTime() >= passSigned;
    };
    const ok = signed.filter((s): s is NonNullable<typeof s> => s !== undefined && !keptNewer(s.slot.key));
    await this.o.store.save(ok.map((s) => s.stored));
    if (due.length < limit && failed.length === 0 && unsignable === 0) this.presignCursor.completed(watermark, afterId === undefined, now.getTime());
    // After a revocation during this pass, memory is left to the revocation (the database row is kept revoked by its
    // trigger, whatever order the writes landed in).
    if (this.statuses.mark() === mark) for (const s of ok) if (!keptNewer(s.slot.key)) this.cache.put(s.slot);
    return ok.length;
  }

  get cacheSize() {
    return this.cache.size;
  }

  /** Whether this issuer has a responder certificate to sign with (readiness). */
  canSign(caId: number): boolean {
    return this.identities.get(caId)?.signer !== undefined;
  }

  // ---- internals ------------------------------------------------------------------------------------------------

  /** When an answer with this window is re-signed: refreshFraction of the way through it. */
  private refreshPoint(thisUpdate: Date, nextUpdate: Date): Date {
    return new Date(thisUpdate.getTime() + (nextUpdate.getTime() - thisUpdate.getTime()) * this.refreshFraction);
  }

  private fresh(slot: Slot, now: Date): boolean {
    return !slot.held && now.getTime() < slot.nextUpdate.getTime() && now.getTime() >= slot.thisUpdate.getTime() - 60_000;
  }

  private issuerOf(certIds: readonly OcspCertId[]): Issuer | undefined {
    // One responder certificate signs a response, and it speaks for one issuer: CertIDs of several issuers in one
    // request are refused as unauthorized (documented), like an issuer we do not serve.
    let issuer: Issuer | undefined;
    for (const c of certIds) {
      const found = this.issuersByHash.get(`${c.hashAlgorithm}:${hex(c.issuerNameHash)}:${hex(c.issuerKeyHash)}`);
      if (!found || (issuer && issuer !== found)) return undefined;
      issuer = found;
    }
    return issuer;
  }

  /** The answer for one serial from memory, the database, or the HSM — concurrent misses share one lookup. */
  private slotFor(issuer: Issuer, alg: HashAlgorithm, serial: string): Promise<Slot> {
    const key = slotKey(issuer.row.id, serial, alg);
    const cached = this.cache.slot(key);
    if (cached && this.fresh(cached, this.clock())) return Promise.resolve(cached);
    let p = this.pending.get(key);
    if (!p) {
      p = this.loadSlot(issuer, alg, serial).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  private async loadSlot(issuer: Issuer, alg: HashAlgorithm, serial: string): Promise<Slot> {
    const now = this.clock();
    const canonical = certIdDer(alg, issuer.hashes[alg].name, issuer.hashes[alg].key, serial);
    // A revocation that lands while this runs (refresh) owns the slot: what was read before it is answered to this
    // request only, never kept.
    const mark = this.statuses.mark();
    const keep = (slot: Omit<Slot, 'held'>): Slot => (this.statuses.mark() === mark ? this.cache.put(slot) : { ...slot, held: false });
    const stored = await this.db(() => this.storedReads.get(issuer.row.id, serial, alg));
    if (stored && now < stored.nextUpdate && (stored.refreshAt > now || !this.identities.get(issuer.row.id)?.signer)) {
      return keep(this.slotFromStored(stored, canonical));
    }
    const row = await this.db(() => this.o.store.status(issuer.row.id, serial));
    const answer = answerStatus(row);
    this.statuses.set(`${issuer.row.id}:${serial}`, answer, now.getTime(), mark);
    const signed = await this.signStored(issuer, alg, serial, row, answer, now, 'high');
    if (answer.storable) {
      // Other responders benefit too; a failure to store costs only a later re-signing.
      void this.o.store.save([signed.stored]).catch((err: unknown) => this.o.log?.warn({ err }, 'storing a live OCSP answer failed'));
    }
    return keep(signed.slot);
  }

  private async signStored(issuer: Issuer, alg: HashAlgorithm, serial: string, row: SerialStatus | undefined, answer: StatusAnswer, now: Date, priority: 'high' | 'low') {
    const identity = this.identities.get(issuer.row.id);
    if (!identity?.signer) throw new Unavailable('no responder key for this issuer');
    const { thisUpdate, nextUpdate } = this.window(answer, identity, now);
    const refreshAt = this.refreshPoint(thisUpdate, nextUpdate);
    const canonical = certIdDer(alg, issuer.hashes[alg].name, issuer.hashes[alg].key, serial);
    const tbs = identity.encoder.tbs([{ certIdDer: canonical, status: answer.status, thisUpdate, nextUpdate }], thisUpdate);
    const der = identity.encoder.assemble(tbs, await identity.signer.sign(tbs, { priority, deadlineMs: this.signDeadlineMs }));
    const slot = this.makeSlot(slotKey(issuer.row.id, serial, alg), canonical, der, answer.status.kind, thisUpdate, nextUpdate);
    return {
      slot,
      stored: { certificateId: row?.certificateId ?? 0, hashAlgorithm: alg, certStatus: answer.status.kind, der, producedAt: thisUpdate, thisUpdate, nextUpdate, refreshAt, responderId: identity.row.id },
    };
  }

  private async signLive(issuer: Issuer, parsed: ParsedOcspRequest): Promise<Uint8Array> {
    const identity = this.identities.get(issuer.row.id);
    if (!identity?.signer) throw new Unavailable('no responder key for this issuer');
    const shedAbove = this.o.shedQueuedAbove;
    if (shedAbove !== undefined && this.o.pool && this.o.pool.health().queued.high > shedAbove) throw new Unavailable('the HSM queue is full');
    const now = this.clock();
    const singles: SingleResponseInput[] = [];
    for (const c of parsed.certIds) {
      const answer = c.serial === '' ? answerStatus(undefined) : await this.statusOf(issuer, c);
      singles.push({ certIdDer: c.der, status: answer.status, ...this.window(answer, identity, now) });
    }
    const tbs = identity.encoder.tbs(singles, wholeSeconds(now), parsed.nonce);
    return identity.encoder.assemble(tbs, await identity.signer.sign(tbs, { deadlineMs: this.signDeadlineMs }));
  }

  /** thisUpdate (whole seconds) and nextUpdate of an answer signed now; it never outlives the certificate that signs it. */
  private window(answer: StatusAnswer, identity: ResponderIdentity, now: Date): { thisUpdate: Date; nextUpdate: Date } {
    const thisUpdate = wholeSeconds(now);
    const length = answer.storable ? this.validityMs : Math.min(this.validityMs, this.unknownValidityMs);
    return { thisUpdate, nextUpdate: new Date(Math.min(thisUpdate.getTime() + length, identity.row.notAfter.getTime())) };
  }

  /**
   * Live answers for one serial that miss the status cache together (its first requests, or a burst of nonces when
   * its entry expires) share one database read instead of one each. Only while no revocation has been seen since
   * that read began (the cache's mark): a request after one reads again.
   */
  private async statusOf(issuer: Issuer, c: OcspCertId): Promise<StatusAnswer> {
    const key = `${issuer.row.id}:${c.serial}`;
    const now = this.clock().getTime();
    const known = this.statuses.get(key, now);
    if (known) return known;
    const mark = this.statuses.mark();
    const inFlight = this.statusReads.get(key);
    if (inFlight?.mark === mark) return inFlight.answer;
    const read = {
      mark,
      answer: this.db(() => this.o.store.status(issuer.row.id, c.serial)).then((row) => {
        const answer = answerStatus(row);
        this.statuses.set(key, answer, now, mark);
        return answer;
      }),
    };
    this.statusReads.set(key, read);
    try {
      return await read.answer;
    } finally {
      if (this.statusReads.get(key) === read) this.statusReads.delete(key);
    }
  }

  private slotFromStored(row: StoredResponse, certIdDer: Uint8Array): Omit<Slot, 'held'> {
    return this.makeSlot(slotKey(row.caId, row.serial, row.hashAlgorithm), certIdDer, row.der, row.certStatus, row.thisUpdate, row.nextUpdate);
  }

  private makeSlot(key: string, certIdDer: Uint8Array, der: Uint8Array, status: Slot['status'], thisUpdate: Date, nextUpdate: Date): Omit<Slot, 'held'> {
    return {
      key,
      certIdDer,
      der,
      status,
      thisUpdate,
      nextUpdate,
      etag: `"${hash('sha1', der, 'hex')}"`,
      lastModified: thisUpdate.toUTCString(),
      expires: nextUpdate.toUTCString(),
    };
  }

  private async db<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.o.log?.warn({ err }, 'the certificate database is unavailable; answering tryLater');
      throw new Unavailable('database unavailable');
    }
  }

  private internalError(err: unknown): OcspAnswer {
    this.o.log?.error({ err }, 'OCSP request failed');
    return { der: OCSP_INTERNAL_ERROR, source: 'error' };
  }
}
