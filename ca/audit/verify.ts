/**
 * verifyAudit: one pass over the audit log in seq order, in batches (constant memory however long the log),
 * re-deriving every hash and link and naming what was done to the rows that do not fit.
 *
 * Two facts per row decide everything: the seq its content hashes with (its "original seq": the stored seq for an
 * untouched row, another one for a row that was moved or renumbered, none for a row whose content was changed) and
 * the row its prev_hash names (the previous row for an untouched chain, an earlier one when forged rows were put
 * in between, an unknown one when rows were removed or the predecessor was rewritten). From those:
 *
 * - edited: the row's hash does not match its content at any nearby seq (changed after it was written), or the
 *   row's successor names a hash that is not the row's (rewritten with a recomputed hash).
 * - deleted: seqs are missing (a gap), or later rows hash with higher seqs than they are stored at (removed, then
 *   renumbered to close the gap); at the end of the log only a checkpoint (`checkpoints`) can tell.
 * - reordered: the row holds the content of another seq, and the rows around it do not share that displacement
 *   (swapped or moved rows).
 * - inserted: a row that the next genuine row links past, a row with a seq below 1, or a row that neither hashes
 *   nor links and is not linked to.
 * - malformed: a row that cannot be an entry at all (a field of the wrong type or format, a float in details…).
 *
 * Without a checkpoint nothing can tell a forged entry correctly appended at the end (SHA-256 is unkeyed) or
 * entries removed from the end: that is what head checkpoints, time-stamped by the TSA, are for.
 */
import { streamAuditRows, type AuditDb, type StoredAuditRow } from '../db/audit-store.ts';
import { AT_PATTERN, entryHash, GENESIS_HASH, HASH_PATTERN, jsonProblem, type AuditDetails, type AuditEntryContent, type AuditHead } from './entry.ts';

export type AuditProblemKind = 'edited' | 'deleted' | 'reordered' | 'inserted' | 'malformed';

export interface AuditProblem {
  /** The row's seq (for 'deleted', the first missing seq as originally numbered). */
  seq: number;
  kind: AuditProblemKind;
  message: string;
}

export interface AuditVerifyReport {
  ok: boolean;
  /** Rows read. */
  rows: number;
  /** The last row as stored; `{ seq: 0, hash: 64 zeros }` for an empty log. */
  head: AuditHead;
  /** Sorted by seq; at most `maxProblems` of them. */
  problems: AuditProblem[];
  /** Problems found beyond `maxProblems` and left out of the list. */
  omitted: number;
}

export interface VerifyOptions {
  /** Heads recorded earlier (by head(), later time-stamped): each must still be in the log. */
  checkpoints?: AuditHead[];
  /** Rows per query; default 1000. */
  batchSize?: number;
  /** Default 1000: a log rewritten wholesale should not produce a million-line report. */
  maxProblems?: number;
}

/** How far from its stored seq a moved row's content is looked for. */
const SEARCH = 16;
/** Rows remembered for resolving links to earlier rows. */
const WINDOW = 1024;

interface Row extends AuditEntryContent {
  hash: string;
  /** `at` had digits below the millisecond: not what append writes. */
  subMs: boolean;
}

type Read = { seq: number; row?: Row; malformed?: string; hash?: string };

interface Known {
  seq: number;
  hash: string;
  /** The seq its content hashes with (for a row that does not hash: its stored seq, shift applied). */
  origSeq: number;
  displaced: boolean;
}

export async function verifyAudit(db: AuditDb, options: VerifyOptions = {}): Promise<AuditVerifyReport> {
  const maxProblems = options.maxProblems ?? 1000;
  const problems: AuditProblem[] = [];
  const problemAt = new Map<number, AuditProblem>();
  let omitted = 0;
  const report = (p: AuditProblem) => {
    if (problems.length >= maxProblems) {
      omitted += 1;
      return;
    }
    problems.push(p);
    if (p.kind !== 'deleted' && !problemAt.has(p.seq)) problemAt.set(p.seq, p);
  };

  const genesis: Known = { seq: 0, hash: GENESIS_HASH, origSeq: 0, displaced: false };
  /** Rows in the chain so far (genesis included), newest last, at most WINDOW. */
  const recent: Known[] = [genesis];
  const byHash = new Map<string, Known>([[GENESIS_HASH, genesis]]);
  /** Original seqs whose stored slot holds a displaced row: their content is expected elsewhere. */
  const awaited = new Set<number>();
  /** Original seqs whose content was found out of its slot. */
  const seenDisplaced = new Set<number>();
  let last: Known = genesis;
  let prevStoredSeq = 0;
  let prevDisplaced = false;
  let shift = 0; // stored seq − original seq, after rows were removed or inserted and the rest renumbered
  let rows = 0;
  let headRow: AuditHead = { seq: 0, hash: GENESIS_HASH };
  const pendingCheckpoints = new Map((options.checkpoints ?? []).map((c) => [c.hash, c]));

  const remember = (k: Known) => {
    recent.push(k);
    byHash.set(k.hash, k);
    if (recent.length > WINDOW) {
      const old = recent.shift()!;
      if (byHash.get(old.hash) === old) byHash.delete(old.hash);
      problemAt.delete(old.seq);
    }
    for (const set of [awaited, seenDisplaced]) for (const s of set) if (s < k.origSeq - WINDOW) set.delete(s);
  };
  const accept = (r: Read, origSeq: number) => {
    const k: Known = { seq: r.seq, hash: r.hash ?? '', origSeq, displaced: false };
    remember(k);
    last = k;
    prevDisplaced = false;
  };
  /** The rows after `x` in the chain were linked past by a genuine row: forged, put in between. */
  const linkedPast = (x: Known, by: Read) => {
    const i = recent.indexOf(x);
    const skipped = recent.splice(i + 1);
    for (const k of skipped) {
      if (byHash.get(k.hash) === k) byHash.delete(k.hash);
      if (k.displaced) continue;
      const message = `seq ${k.seq} is a forged row: seq ${by.seq} links past it to seq ${x.seq}`;
      const known = problemAt.get(k.seq);
      if (known?.kind === 'inserted') continue;
      if (known) Object.assign(known, { kind: 'inserted', message: `${message} (${known.message})` });
      else report({ seq: k.seq, kind: 'inserted', message });
    }
    last = x;
  };
  const missing = (from: number, to: number, why: string): AuditProblem => ({
    seq: from,
    kind: 'deleted',
    message: `${to === from ? `seq ${from} is missing` : `seqs ${from} to ${to} are missing`}: ${why}`,
  });

  const rowsIter = readRows(db, options.batchSize ?? 1000);
  let next = await rowsIter.next();
  while (!next.done) {
    const r = next.value;
    next = await rowsIter.next();
    const peek = next.done ? undefined : next.value;
    rows += 1;
    headRow = { seq: r.seq, hash: r.hash ?? '' };
    if (r.hash !== undefined) pendingCheckpoints.delete(r.hash);

    if (r.seq < 1) {
      report({ seq: r.seq, kind: 'inserted', message: `seq ${r.seq} precedes the first entry (seq 1): a forged row, no append writes it` });
      continue;
    }
    if (!r.row) {
      report({ seq: r.seq, kind: 'malformed', message: `seq ${r.seq} is not an audit entry: ${r.malformed}` });
      accept(r, r.seq - shift);
      prevStoredSeq = r.seq;
      continue;
    }
    const row = r.row;
    const gap = r.seq > prevStoredSeq + 1;
    const linkTo = row.prevHash === last.hash ? last : byHash.get(row.prevHash);
    const linked = linkTo === last;
    const o = originalSeq(row, [r.seq - shift, r.seq, last.origSeq + 1]);

    if (o === undefined) {
      const why = row.subMs
        ? `its time ${row.at} has digits below the millisecond, which no append writes: the row was changed after it was written`
        : 'its hash does not match its content: the row was changed after it was written';
      if (linked || prevDisplaced || linkTo?.displaced) {
        report({ seq: r.seq, kind: 'edited', message: `seq ${r.seq}: ${why}` });
      } else if (linkTo) {
        linkedPast(linkTo, r);
        report({ seq: r.seq, kind: 'edited', message: `seq ${r.seq}: ${why}` });
      } else if (gap) {
        report(missing(prevStoredSeq + 1 - shift, r.seq - 1 - shift, `seq ${r.seq} follows seq ${prevStoredSeq} and does not link to it`));
        report({ seq: r.seq, kind: 'edited', message: `seq ${r.seq}: ${why}` });
      } else if (peek?.row?.prevHash === row.hash) {
        report({ seq: r.seq, kind: 'edited', message: `seq ${r.seq}: ${why}, and its prev_hash names no earlier row` });
      } else {
        report({ seq: r.seq, kind: 'inserted', message: `seq ${r.seq} is a forged row: its hash does not match its content, its prev_hash names no earlier row and no row links to it` });
      }
      accept(r, r.seq - shift);
      prevStoredSeq = r.seq;
      continue;
    }

    const newShift = r.seq - o;
    if (newShift !== shift) {
      // The content belongs to another seq: moved by itself (reordered), or the rest renumbered after rows were
      // removed or forged ones put in between.
      const persists = peek?.row ? hashesAt(peek.row, peek.seq - newShift) : undefined;
      const displaced = () => {
        report({ seq: r.seq, kind: 'reordered', message: `seq ${r.seq} holds the entry written as seq ${o}: rows were swapped or moved` });
        const k: Known = { seq: r.seq, hash: row.hash, origSeq: o, displaced: true };
        remember(k);
        // Its content is out of its slot; the content that belongs in the slot is expected elsewhere.
        awaited.delete(o);
        seenDisplaced.add(o);
        if (!seenDisplaced.has(r.seq - shift)) awaited.add(r.seq - shift);
        prevDisplaced = true;
      };
      if (awaited.has(o) || persists === false) displaced();
      else if (linkTo && !linked && !linkTo.displaced) {
        if (!peek && recent.slice(recent.indexOf(linkTo) + 1).some((k) => k.displaced)) displaced();
        else {
          linkedPast(linkTo, r);
          shift = newShift;
          accept(r, o);
        }
      } else if (linked) {
        if (o === last.origSeq + 1 && !prevDisplaced) {
          report({ seq: r.seq, kind: 'malformed', message: `seq ${r.seq} and the rows after it were renumbered (written as seq ${o}): nothing is missing, but seqs no longer count up by one` });
          shift = newShift;
          accept(r, o);
        } else displaced();
      } else if (!linkTo && o > last.origSeq + 1) {
        report(missing(last.origSeq + 1, o - 1, `removed, and the rows after them renumbered (seq ${r.seq} was written as seq ${o})`));
        shift = newShift;
        accept(r, o);
      } else displaced();
      prevStoredSeq = r.seq;
      continue;
    }

    // In its place.
    if (gap && (linked || linkTo)) {
      report({ seq: r.seq, kind: 'malformed', message: `seqs jump from ${prevStoredSeq} to ${r.seq} although seq ${r.seq} links to seq ${linkTo!.seq}` });
    }
    if (!linked && !prevDisplaced && !linkTo?.displaced) {
      if (linkTo) linkedPast(linkTo, r);
      else if (gap) report(missing(prevStoredSeq + 1 - shift, o - 1, `seq ${r.seq} follows seq ${prevStoredSeq} and links to neither it nor any row before`));
      else if (last === genesis) {
        report({ seq: r.seq, kind: 'edited', message: `seq ${r.seq}: the first entry's prev_hash is not 64 zeros: the row was rewritten and its hash recomputed` });
      } else if (!problemAt.has(last.seq)) {
        report({
          seq: last.seq,
          kind: 'edited',
          message: `seq ${last.seq}: its hash is not the one seq ${r.seq} recorded as its predecessor: the row was rewritten and its hash recomputed (or seq ${r.seq} was forged with another prev_hash)`,
        });
      }
    }
    accept(r, o);
    prevStoredSeq = r.seq;
  }

  for (const c of pendingCheckpoints.values()) {
    report(
      c.seq > last.origSeq
        ? missing(last.origSeq + 1, c.seq, `the checkpoint of seq ${c.seq} (hash ${c.hash}) is beyond the last entry (seq ${last.seq}): entries were removed from the end`)
        : { seq: c.seq, kind: 'edited', message: `seq ${c.seq}: no row has the checkpointed hash ${c.hash}: the entry was rewritten or removed` },
    );
  }

  problems.sort((a, b) => a.seq - b.seq);
  return { ok: problems.length === 0 && omitted === 0, rows, head: headRow, problems, omitted };
}

/** The seq at which the row's content hashes to its stored hash: the likely ones first, then nearby. */
function originalSeq(row: Row, likely: number[]): number | undefined {
  if (row.subMs) return undefined;
  const tried = new Set<number>();
  const candidates = [...likely];
  for (let d = 1; d <= SEARCH; d++) candidates.push(row.seq - d, row.seq + d);
  for (const c of candidates) {
    if (c < 1 || !Number.isSafeInteger(c) || tried.has(c)) continue;
    tried.add(c);
    if (hashesAt(row, c)) return c;
  }
  return undefined;
}

function hashesAt(row: Row, seq: number): boolean {
  return !row.subMs && entryHash({ ...row, seq }) === row.hash;
}

async function* readRows(db: AuditDb, batchSize: number): AsyncGenerator<Read> {
  for await (const stored of streamAuditRows(db, {}, batchSize)) yield parseRow(stored);
}

/** A stored row as an entry, or why it cannot be one. */
export function parseRow(s: StoredAuditRow): Read {
  if (typeof s.seq !== 'number') return { seq: Number.MAX_SAFE_INTEGER, malformed: `seq ${s.seq} is beyond 2^53` };
  const seq = s.seq;
  const hash = typeof s.hash === 'string' ? s.hash : undefined;
  const bad = (why: string): Read => ({ seq, malformed: why, ...(hash !== undefined ? { hash } : {}) });
  if (hash === undefined || !HASH_PATTERN.test(hash)) return bad(`hash ${JSON.stringify(s.hash)} is not 64 lowercase hex digits`);
  if (typeof s.prevHash !== 'string' || !HASH_PATTERN.test(s.prevHash)) return bad(`prev_hash ${JSON.stringify(s.prevHash)} is not 64 lowercase hex digits`);
  for (const [field, v] of [['actor', s.actor], ['action', s.action]] as const) {
    if (typeof v !== 'string' || v.length === 0) return bad(`${field} is not a non-empty string`);
  }
  if (s.subject !== null && typeof s.subject !== 'string') return bad('subject is neither a string nor null');
  if (typeof s.details !== 'object' || s.details === null || Array.isArray(s.details)) return bad('details is not a JSON object');
  const dp = jsonProblem(s.details, 'details');
  if (dp) return bad(dp);
  const micro = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})(\d{3})$/.exec(s.atMicros);
  if (!micro) return bad(`at ${JSON.stringify(s.atMicros)} is not a time between years 0 and 9999`);
  const at = `${micro[1]}Z`;
  if (!AT_PATTERN.test(at)) return bad(`at ${s.atMicros} is not a time append writes`);
  return {
    seq,
    hash,
    row: {
      seq,
      at: micro[2] === '000' ? at : `${micro[1]}${micro[2]}Z`,
      subMs: micro[2] !== '000',
      actor: s.actor as string,
      action: s.action as string,
      subject: s.subject as string | null,
      details: s.details as AuditDetails,
      prevHash: s.prevHash,
      hash,
    },
  };
}
