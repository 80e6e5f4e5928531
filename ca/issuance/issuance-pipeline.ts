/**
 * The steps every certificate goes through once its content is decided, whoever asked (an API client's CSR or the
 * CA for its own services): lint the draft → serial reserved with the TBS recorded (committed before the HSM signs;
 * the TBS is the linted draft's DER with the serial spliced in, serial-splice.ts) → the TBS checked against the
 * linted draft → HSM signature → signature verified → certificate committed with its
 * audit entry (and the caller's rows, same transaction). One pipeline, so no path signs what another would refuse.
 */
import { hash } from 'node:crypto';
import { isHsmError } from '../../hsm/index.ts';
import type { AuditLog } from '../audit/index.ts';
import type { AuditEvent } from '../audit/entry.ts';
import type { AuditTrx } from '../db/audit-store.ts';
import { IdempotencyKeyTaken, SerialTaken, type CertificateStore, type Reservation } from '../db/certificate-store.ts';
import type { NormalizedNames } from '../policy/name-policy.ts';
import { assertNoLintErrors, buildTbsCertificate, lintCertificate, nameToString, newSerial, verifyLintedCertificate, type Serial, type TbsCertificateSpec } from '../x509/index.ts';
import { signOnce } from '../x509/sign-once.ts';
import { GroupCommit } from '../db/group-commit.ts';
import { certificateTemplate, type TemplateInput } from './certificate-template.ts';
import { IssuanceError } from './issuance-error.ts';
import { assertOnlySerialDiffers, withSerial } from './serial-splice.ts';

export interface PipelineRequest {
  template: TemplateInput;
  clientId: number | null;
  idempotencyKey: string | null;
  csrSha256: string | null;
  /** Who the audit entry names: the API client, or 'strongroom' for the CA's own services. */
  actor: string;
  /** Audit details beyond those every issuance records (ca, profile, subject, sans, spkiSha256, notAfter). */
  details: Record<string, string>;
  /** Rows that must commit with the certificate (in its transaction, after the audit entry's turn is taken). */
  record?: (trx: AuditTrx, issued: Issued) => Promise<void>;
  /**
   * performance.now() after which nothing irreversible starts: no serial is reserved, and a reserved one is closed
   * as failed instead of signed. The caller has answered 503 by then (a stuck database or queue held it up).
   */
  deadlineAt?: number;
}

export interface Issued {
  /** The certificates row. */
  id: number;
  serial: Serial;
  der: Uint8Array;
  spec: TbsCertificateSpec;
}

export interface PipelineDeps {
  certificates: CertificateStore;
  audit: AuditLog;
  clock: () => Date;
  random: (n: number) => Uint8Array;
}

const PLACEHOLDER_SERIAL: Serial = { bytes: Uint8Array.from([0x7f, ...new Array<number>(15).fill(0x5a)]), hex: '7f' + '5a'.repeat(15) };
const MAX_SERIAL_DRAWS = 3;

export const sha256Hex = (b: Uint8Array) => hash('sha256', b, 'hex');

export function sanList(n: NormalizedNames): string[] {
  return [...n.dns.map((x) => `dns:${x}`), ...n.ip.map((x) => `ip:${x}`), ...n.uri.map((x) => `uri:${x}`), ...n.email.map((x) => `email:${x}`)];
}

const late = (req: PipelineRequest) => req.deadlineAt !== undefined && performance.now() > req.deadlineAt;

export function unavailable(what: string): IssuanceError {
  return new IssuanceError('unavailable', `${what}; try again`, 5);
}

/** A signed, verified certificate waiting for its group commit; `error` is set when its commit failed. */
interface PendingCommit {
  id: number;
  der: Uint8Array;
  issuedAt: Date;
  event: AuditEvent;
  error?: unknown;
}

/** How long a commit may wait for others to join it after the previous one (a lone request is not held back). */
const COMMIT_DELAY_MS = 2;
const COMMIT_MAX_BATCH = 256;

interface PendingReservation {
  reservation: Reservation;
  id?: number;
  error?: unknown;
}

export class IssuancePipeline {
  private readonly commits: GroupCommit<PendingCommit>;
  private readonly reservations: GroupCommit<PendingReservation>;

  constructor(private readonly deps: PipelineDeps) {
    // One group in flight at a time: audit entries are appended under one lock anyway, and groups commit in order.
    this.commits = new GroupCommit((group) => this.commitGroup(group), { delayMs: COMMIT_DELAY_MS, maxBatch: COMMIT_MAX_BATCH, maxConcurrent: 1 });
    // Reservations do not depend on each other: two batches may be in flight.
    this.reservations = new GroupCommit((group) => this.reserveGroup(group), { delayMs: COMMIT_DELAY_MS, maxBatch: COMMIT_MAX_BATCH, maxConcurrent: 2 });
  }

  /** Throws IdempotencyKeyTaken (from the store) when the key was taken meanwhile: the caller decides the answer. */
  async run(req: PipelineRequest): Promise<Issued> {
    const { deps } = this;
    const { issuer, profile } = req.template;
    // Lint with a placeholder serial first: a certificate that could not pass never takes a serial.
    const draft = certificateTemplate(req.template, PLACEHOLDER_SERIAL);
    const lintedDer = buildTbsCertificate(draft).der;
    this.lint(lintedDer, req.template);
    if (late(req)) throw unavailable('the request ran out of time');

    const { id, serial, tbsDer, spec } = await this.reserve(req, draft, lintedDer);
    try {
      // The lint's verdict carries over: only the serial differs, and it passes the serial rules (checked here).
      assertOnlySerialDiffers(lintedDer, tbsDer, serial);
    } catch (e) {
      // Not signed: the reservation is closed as failed rather than left looking like an interrupted issuance.
      await deps.certificates.markFailed(id).catch(() => undefined);
      throw e;
    }

    let der: Uint8Array;
    try {
      // Checked here, not only before the reservation: the reservation itself may be what waited past the deadline.
      if (late(req)) throw unavailable('the request ran out of time before the HSM signed');
      // signOnce + verifyLintedCertificate rather than signCertificate: the algorithm is the draft's (linted against the
      // signer), so the TBS need not be parsed again to find it, and nothing here uses a parsed Certificate — two
      // full ASN.1 parses per certificate saved. The check is the same: one signature, then verified as a relying
      // party would (parses, carries exactly this TBS, algorithms agree, verifies under the issuer's key).
      der = await signOnce(tbsDer, draft.signatureAlgorithm, issuer.signer, { priority: 'normal' });
      // The TBS is the linted one (read strictly there) with a checked serial: the certificate is read strictly
      // around it without judging the TBS again; the signature is verified with the issuer's cached key.
      verifyLintedCertificate(der, { issuerSpki: issuer.signer.spki, expectedTbs: tbsDer });
    } catch (e) {
      // The token may or may not have produced a signature: the row stays revocable, marked failed, never returned.
      await deps.certificates.markFailed(id).catch(() => undefined);
      if (isHsmError(e)) throw new IssuanceError('unavailable', 'the HSM is unavailable or busy; try again', e.retryAfterSeconds ?? 5);
      throw e;
    }

    const issued: Issued = { id, serial, der, spec };
    const details = { ca: issuer.row.name, profile: profile.name, subject: nameToString(spec.subject), sans: sanList(req.template.names), spkiSha256: sha256Hex(req.template.spki), ...req.details, notAfter: spec.notAfter.toISOString() };
    const event: AuditEvent = { actor: req.actor, action: 'certificate.issue', subject: serial.hex, details };
    try {
      if (req.record) {
        // The caller's rows commit with this certificate alone: a failure of theirs must not fail a whole group.
        await this.commitOne({ id, der, issuedAt: deps.clock(), event }, (trx) => req.record!(trx, issued));
      } else {
        const pending: PendingCommit = { id, der, issuedAt: deps.clock(), event };
        await this.commits.record(pending);
        if (pending.error !== undefined) throw pending.error;
      }
    } catch {
      throw unavailable('the certificate could not be recorded');
    }
    return issued;
  }

  /**
   * A reservation, batched with those arriving meanwhile into one INSERT (committed before any of them is signed,
   * as alone). If the batch fails — a serial or Idempotency-Key conflict, or a fault — each is reserved again alone,
   * so each caller gets its own answer (SerialTaken, IdempotencyKeyTaken, or the fault).
   */
  private async reserveOne(r: Reservation): Promise<number> {
    const pending: PendingReservation = { reservation: r };
    await this.reservations.record(pending);
    if (pending.id !== undefined) return pending.id;
    throw pending.error;
  }

  private async reserveGroup(group: PendingReservation[]): Promise<void> {
    if (group.length > 1) {
      try {
        const ids = await this.deps.certificates.reserveMany(group.map((p) => p.reservation));
        group.forEach((p, i) => (p.id = ids[i]));
        return;
      } catch {
        // One by one below: the failing reservation gets its error, the others their ids.
      }
    }
    await Promise.all(
      group.map(async (p) => {
        try {
          p.id = await this.deps.certificates.reserve(p.reservation);
        } catch (e) {
          p.error = e;
        }
      }),
    );
  }

  /** One certificate and its audit entry, in a transaction of their own. */
  private async commitOne(c: PendingCommit, then?: (trx: AuditTrx) => Promise<void>): Promise<void> {
    await this.deps.certificates.markIssued(c.id, c.der, c.issuedAt, async (trx) => {
      await this.deps.audit.append(c.event, trx);
      if (then) await then(trx);
    });
  }

  /**
   * Group commit: the certificates that are signed and verified while a commit is in flight (or within
   * COMMIT_DELAY_MS of the last one) are stored together with their audit entries — in the order they arrived,
   * chained in that order — in one transaction: one UPDATE, one audit lock, one INSERT, one COMMIT instead of six
   * statements and a lock held across four round trips per certificate; on PostgreSQL sent in two writes
   * (issued-commit.ts). Each caller still returns only after the transaction holding its certificate and audit
   * entry has committed. If the group's transaction fails, each of
   * its certificates is committed again alone, so one bad row (or a passing fault) fails only its own issuance.
   */
  private async commitGroup(group: PendingCommit[]): Promise<void> {
    try {
      await this.deps.audit.appendManyVia(group.map((c) => c.event), (build) => this.deps.certificates.markIssuedManyWithAudit(group, build));
      return;
    } catch (e) {
      if (group.length === 1) {
        group[0]!.error = e;
        return;
      }
    }
    for (const c of group) {
      try {
        await this.commitOne(c);
      } catch (e) {
        c.error = e;
      }
    }
  }

  private lint(tbsDer: Uint8Array, t: TemplateInput): void {
    // A finding here means the profile or the issuer is misconfigured, not that the requester erred: a 500.
    assertNoLintErrors(lintCertificate(tbsDer, { signer: t.issuer.signer, issuerCertificate: t.issuer.row.certificateDer, ca: false, maxValidityDays: t.profile.validity.maxDays }));
  }

  private async reserve(req: PipelineRequest, draft: TbsCertificateSpec, lintedDer: Uint8Array) {
    const t = req.template;
    for (let draw = 0; ; draw++) {
      const serial = await newSerial(this.deps.random);
      // The linted draft with the real serial: nothing else differs, and the TBS is not encoded again.
      const spec: TbsCertificateSpec = { ...draft, serial };
      const tbsDer = withSerial(lintedDer, serial);
      try {
        const id = await this.reserveOne({
          caId: t.issuer.row.id,
          serial: serial.hex,
          tbsDer,
          subjectDn: nameToString(spec.subject),
          sans: sanList(t.names),
          profile: t.profile.name,
          clientId: req.clientId,
          idempotencyKey: req.idempotencyKey,
          csrSha256: req.csrSha256,
          spkiSha256: sha256Hex(t.spki),
          notBefore: spec.notBefore,
          notAfter: spec.notAfter,
        });
        return { id, serial, tbsDer, spec };
      } catch (e) {
        if (e instanceof SerialTaken && draw + 1 < MAX_SERIAL_DRAWS) continue;
        if (e instanceof IdempotencyKeyTaken) throw e;
        throw unavailable('the certificate database is unavailable');
      }
    }
  }
}
