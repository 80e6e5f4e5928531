/** `strongroom audit …`: verify the hash-chained audit log, export it as JSON lines, show its head. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { exportAudit, head, verifyAudit, type AuditHead } from '../audit/index.ts';
import { AuditAnchorStore } from '../db/audit-anchor-store.ts';
import { AuthorityStore } from '../db/authority-store.ts';
import { databaseUrlFromEnv, openDatabase } from '../db/connect.ts';
import { checkAnchors } from '../tsa/verify-anchors.ts';
import { EXIT, UsageError } from './cli-error.ts';
import { dataDirOf } from './hsm-options.ts';

export const AUDIT_USAGE = `strongroom audit <command> [--data-dir DIR]
  verify [--checkpoint SEQ:HASH]...
        re-derives every entry's hash and link; exit 0 when intact, 1 with one line per problem (edited, deleted,
        reordered, inserted or malformed rows). --checkpoint checks that a head recorded earlier (audit head) is
        still there: the only way to detect entries removed from the end. Every TSA anchor (an audit head
        time-stamped on a schedule by the TSA) is checked too: its token must verify against a TSA certificate
        from one of our CAs and time-stamp that head, and the head must still be in the chain at its seq.
  export [--from SEQ] [--to SEQ]
        JSON lines on stdout, one entry per line in seq order (canonical JSON, hash included), for a SIEM.
  head  prints the head (seq and hash of the last entry) to record as a checkpoint.
Database: DATABASE_URL, else the embedded database in the data directory.`;

type Out = (line: string) => void;

const SUBCOMMANDS = ['verify', 'export', 'head'];

export async function auditCommand(argv: string[], out: Out, err: Out = out): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === 'help' || sub === '--help') {
    out(AUDIT_USAGE);
    return sub ? EXIT.ok : EXIT.usage;
  }
  if (!SUBCOMMANDS.includes(sub)) throw new UsageError(`unknown audit command "${sub}"\n${AUDIT_USAGE}`);
  let values: { 'data-dir'?: string; from?: string; to?: string; checkpoint?: string[] };
  try {
    const options: ParseArgsConfig['options'] = { 'data-dir': { type: 'string' } };
    if (sub === 'export') Object.assign(options, { from: { type: 'string' }, to: { type: 'string' } });
    if (sub === 'verify') Object.assign(options, { checkpoint: { type: 'string', multiple: true } });
    values = parseArgs({ args: rest, options, strict: true, allowPositionals: false }).values as typeof values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // Arguments are judged before the database is opened.
  const fromSeq = seqFlag('--from', values.from);
  const toSeq = seqFlag('--to', values.to);
  if (fromSeq !== undefined && toSeq !== undefined && fromSeq > toSeq) throw new UsageError(`--from ${fromSeq} is after --to ${toSeq}`);
  const checkpoints = (values.checkpoint ?? []).map(checkpointFlag);

  const url = databaseUrlFromEnv();
  const db = await openDatabase({ ...(url ? { url } : {}), dataDir: dataDirOf(values) });
  try {
    if (sub === 'head') {
      const h = await head(db);
      out(`${h.seq} ${h.hash}`);
      return EXIT.ok;
    }
    if (sub === 'export') {
      const { rows } = await exportAudit(db, { ...(fromSeq !== undefined ? { fromSeq } : {}), ...(toSeq !== undefined ? { toSeq } : {}) }, (line) => {
        out(line);
        return drained();
      });
      err(`strongroom: exported ${rows} audit entr${rows === 1 ? 'y' : 'ies'}`);
      return EXIT.ok;
    }
    // TSA anchors: tokens checked first; the heads they vouch for become checkpoints.
    const caCertificates = (await new AuthorityStore(db).list()).map((a) => a.certificateDer);
    const anchors = checkAnchors(await new AuditAnchorStore(db).all(), caCertificates);
    const r = await verifyAudit(db, { checkpoints: [...checkpoints, ...anchors.checkpoints] });
    const entries = `${r.rows} entr${r.rows === 1 ? 'y' : 'ies'}`;
    const anchored = anchors.checkpoints.length ? `, ${anchors.checkpoints.length} TSA anchor(s) verified (latest ${anchors.latest!.toISOString()})` : '';
    if (r.ok && anchors.problems.length === 0) {
      out(`audit log intact: ${entries}, head seq ${r.head.seq} hash ${r.head.hash}${checkpoints.length ? `, ${checkpoints.length} checkpoint(s) found` : ''}${anchored}`);
      return EXIT.ok;
    }
    for (const p of anchors.problems) out(`PROBLEM [anchor] ${p.message}`);
    for (const p of r.problems) out(`PROBLEM [${p.kind}] ${p.message}`);
    const total = r.problems.length + r.omitted + anchors.problems.length;
    out(`audit log does NOT verify: ${total} problem${total === 1 ? '' : 's'} in ${entries}${r.omitted ? ` (${r.omitted} not listed)` : ''}`);
    return EXIT.failure;
  } finally {
    await db.destroy();
  }
}

function seqFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`${name} takes a seq (a non-negative integer), not "${value}"`);
  return n;
}

function checkpointFlag(value: string): AuditHead {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(value);
  const seq = m ? Number(m[1]) : NaN;
  if (!m || !Number.isSafeInteger(seq) || seq < 1) throw new UsageError(`--checkpoint takes SEQ:HASH as printed by "strongroom audit head" (64 lowercase hex digits), not "${value}"`);
  return { seq, hash: m[2]! };
}

/** Backpressure for a long export: wait while stdout's buffer is full (a slow SIEM pipe). */
function drained(): Promise<void> | undefined {
  if (!process.stdout.writableNeedDrain) return undefined;
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}
