/**
 * `strongroom cert orphans`: serials reserved by an issuance that never finished (the process was killed, or the
 * database went away after the reservation). The HSM may have signed such a TBS before the process died, so each one
 * is listed for an operator to revoke (POST /v1/certificates/{serial}/revoke as an admin); until then OCSP answers
 * `unknown` for it, never `good`.
 */
import { parseArgs } from 'node:util';
import { AuthorityStore } from '../db/authority-store.ts';
import { CertificateStore } from '../db/certificate-store.ts';
import { databaseUrlFromEnv, openDatabase } from '../db/connect.ts';
import { EXIT, UsageError } from './cli-error.ts';
import { dataDirOf } from './hsm-options.ts';

export const CERT_USAGE = `strongroom cert orphans [--older-than DURATION] [--json] [--data-dir DIR]
  lists reservations older than DURATION (default 60s; e.g. 0s, 90s, 10m, 2h) that never became a certificate:
  issuer, serial, reserved at, profile, client id, subject. An issuance in flight finishes or fails within the
  pool's deadline, so anything older is orphaned. Revoke each through the API as an admin.
Database: DATABASE_URL, else the embedded database in the data directory.`;

type Out = (line: string) => void;

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string): number {
  const m = /^(\d{1,6})(s|m|h)$/.exec(text);
  if (!m) throw new UsageError(`--older-than takes a number and a unit (s, m or h), e.g. 90s or 10m; got "${text}"`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

export async function certCommand(argv: string[], out: Out, err: Out = out): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === 'help' || sub === '--help') {
    out(CERT_USAGE);
    return sub ? EXIT.ok : EXIT.usage;
  }
  if (sub !== 'orphans') throw new UsageError(`unknown cert command "${sub}"\n${CERT_USAGE}`);
  let values: { 'data-dir'?: string; 'older-than'?: string; json?: boolean };
  try {
    ({ values } = parseArgs({ args: rest, options: { 'data-dir': { type: 'string' }, 'older-than': { type: 'string' }, json: { type: 'boolean' } }, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${CERT_USAGE}`);
  }
  const olderThanMs = parseDuration(values['older-than'] ?? '60s');
  const url = databaseUrlFromEnv();
  const db = await openDatabase({ ...(url ? { url } : {}), dataDir: dataDirOf(values) });
  try {
    const names = new Map((await new AuthorityStore(db).list()).map((a) => [a.id, a.name]));
    const orphans = await new CertificateStore(db).orphanedReservations(new Date(Date.now() - olderThanMs));
    const rows = orphans.map((o) => ({
      ca: names.get(o.caId) ?? String(o.caId),
      serial: o.serial,
      reservedAt: o.reservedAt.toISOString(),
      profile: o.profile,
      clientId: o.clientId,
      subject: o.subjectDn,
      revoked: o.revocation !== null,
    }));
    if (values.json) {
      out(JSON.stringify(rows));
      return EXIT.ok;
    }
    if (rows.length === 0) {
      out('no orphaned reservations');
      return EXIT.ok;
    }
    for (const r of rows) out(`${r.ca}\t${r.serial}\t${r.reservedAt}\t${r.profile}\tclient ${r.clientId ?? '-'}\t${r.subject}${r.revoked ? '\trevoked' : ''}`);
    err(`${rows.length} orphaned reservation(s): revoke each as an admin (POST /v1/certificates/{serial}/revoke)`);
    return EXIT.ok;
  } finally {
    await db.destroy();
  }
}
