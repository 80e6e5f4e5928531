/**
 * Certificate issuance, in the order that keeps every promise: parse → CSR signature → key checks → policy →
 * serial reserved with the TBS recorded → lint → HSM signature → signature verified → certificate committed with
 * its audit entry → returned. Nothing before the reservation writes to the database or calls the HSM (it reads:
 * the key-compromise block list, an earlier answer for the Idempotency-Key); a failure after the HSM call leaves a
 * row that can be revoked and that OCSP answers for.
 *
 * Validity: a request beyond the profile's maximum is refused (400 bad_validity: the requester learns the limit);
 * a validity that would outlast the issuer is clamped to the issuer's notAfter (the answer carries the real dates).
 * CA profiles are never offered here: the composition passes leaf profiles only (leaf-profiles.ts).
 */
import { createHash } from 'node:crypto';
import { isHsmError } from '../../hsm/index.ts';
import type { AuditLog } from '../audit/index.ts';
import { IdempotencyKeyTaken, SerialTaken, type CertificateRow, type CertificateStore } from '../db/certificate-store.ts';
import { checkKeyNotBlocked, CsrError, parseCsr, type ParsedCsr } from '../csr/index.ts';
import type { PolicyRuleSet } from '../policy/name-policy.ts';
import { decideProfileNames, keyTypeAllowed, validityDays, type Profile } from '../profiles/index.ts';
import type { KeyType } from '../profiles/profile.ts';
import { assertNoLintErrors, buildTbsCertificate, lintCertificate, nameToString, newSerial, signCertificate, type Serial, type TbsCertificateSpec } from '../x509/index.ts';
import { certificateTemplate, type PublicUrls } from './certificate-template.ts';
import { IssuanceError } from './issuance-error.ts';
import type { Issuer, IssuerRegistry } from './issuer-registry.ts';

export interface ClientIdentity {
  id: number;
  name: string;
  profiles: readonly string[];
  /** The client's grant, as rule sets every requested name must also satisfy. */
  rules: readonly PolicyRuleSet[];
}

export interface IssueRequest {
  csr: string;
  profile: string;
  validityDays?: number;
  client: ClientIdentity;
  idempotencyKey?: string;
}

export interface IssuedCertificate {
  serial: string;
  der: Uint8Array;
  /** The issuing CA first, then its issuers. */
  chain: Uint8Array[];
  /** True when an earlier request with the same Idempotency-Key and CSR is answered again. */
  replayed: boolean;
}

export interface IssuanceDeps {
  certificates: CertificateStore;
  issuers: IssuerRegistry;
  profiles: ReadonlyMap<string, Profile>;
  audit: AuditLog;
  urls: PublicUrls;
  clock: () => Date;
  random: (n: number) => Uint8Array;
  /** False while the HSM cannot sign (token down, pool closed): answered 503 before a serial is taken. */
  hsmReady?: () => boolean;
}

const PLACEHOLDER_SERIAL: Serial = { bytes: Uint8Array.from([0x7f, ...new Array<number>(15).fill(0x5a)]), hex: '7f' + '5a'.repeat(15) };
const MAX_SERIAL_DRAWS = 3;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function sanList(n: { dns: string[]; ip: string[]; uri: string[]; email: string[] }): string[] {
  return [...n.dns.map((x) => `dns:${x}`), ...n.ip.map((x) => `ip:${x}`), ...n.uri.map((x) => `uri:${x}`), ...n.email.map((x) => `email:${x}`)];
}

function unavailable(what: string): IssuanceError {
  return new IssuanceError('unavailable', `${what}; try again`, 5);
}

/** Internal: a reservation lost an Idempotency-Key race to a request that has finished; answer as it did. */
class ReplayInstead extends Error {
  constructor(readonly answer: IssuedCertificate) {
    super('replay');
  }
}

export class IssuanceService {
  constructor(private readonly deps: IssuanceDeps) {}

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    const { deps } = this;
    const profile = deps.profiles.get(req.profile);
    // The message lists what exists rather than quoting what was sent (messages never repeat the request).
    if (!profile) throw new IssuanceError('unknown_profile', `unknown profile; profiles: ${[...deps.profiles.keys()].join(', ')}`);
    if (!req.client.profiles.includes(profile.name)) throw new IssuanceError('forbidden_profile', `this client is not granted the ${profile.name} profile`);

    let csr: ParsedCsr;
    try {
      csr = parseCsr(req.csr);
    } catch (e) {
      if (e instanceof CsrError) throw new IssuanceError(e.code === 'too_large' ? 'too_large' : e.code, e.message);
      throw e;
    }
    const csrSha256 = sha256(csr.der);

    if (req.idempotencyKey !== undefined) {
      const earlier = await this.lookup(() => deps.certificates.byIdempotencyKey(req.client.id, req.idempotencyKey!));
      if (earlier) return this.replay(earlier, csrSha256, profile.name);
    }

    const keyType = csr.publicKey.keyType as KeyType;
    try {
      await checkKeyNotBlocked(csr.publicKey.spkiSha256, { isCaKey: (h) => deps.issuers.isCaKey(h), isCompromised: (h) => deps.certificates.isCompromisedKey(h) });
    } catch (e) {
      if (e instanceof CsrError) throw new IssuanceError('weak_key', e.message);
      throw unavailable('the certificate database is unavailable');
    }
    if (!keyTypeAllowed(profile, keyType)) throw new IssuanceError('weak_key', `a ${csr.publicKey.keyType} key is not allowed by the ${profile.name} profile`);

    const names = decideProfileNames(profile, { ...csr.requested, ...(csr.cn !== undefined ? { cn: csr.cn } : {}) }, req.client.rules);
    if (!names.ok) throw new IssuanceError(names.code, names.detail);
    const validity = validityDays(profile, req.validityDays);
    if (!validity.ok) throw new IssuanceError('bad_validity', validity.detail);
    const issuer = deps.issuers.active();
    if (!issuer) throw new IssuanceError('no_issuer', 'no issuing CA is active', 30);
    const now = deps.clock();
    // An issuer past its notAfter (or not yet valid) cannot issue: the certificate would end before it begins.
    if (issuer.info.notAfter.getTime() <= now.getTime() || issuer.info.notBefore.getTime() > now.getTime()) throw new IssuanceError('no_issuer', 'the active issuing CA is outside its validity period', 30);

    const template = { profile, issuer, names: names.names, cn: names.cn, keyType, spki: csr.publicKey.spki, validityDays: validity.days, now, urls: deps.urls };
    // An HSM known to be down would only turn the reservation into a failed row: refuse before taking a serial.
    if (deps.hsmReady && !deps.hsmReady()) throw new IssuanceError('unavailable', 'the HSM is unavailable; try again', 5);
    // Lint with a placeholder serial first: a certificate that could not pass never takes a serial.
    const draft = certificateTemplate(template, PLACEHOLDER_SERIAL);
    this.lint(buildTbsCertificate(draft).der, issuer, profile);

    let reservation: Awaited<ReturnType<IssuanceService['reserve']>>;
    try {
      reservation = await this.reserve(template, draft, req, csrSha256, issuer);
    } catch (e) {
      if (e instanceof ReplayInstead) return e.answer;
      throw e;
    }
    const { id, serial, tbsDer, spec } = reservation;
    try {
      this.lint(tbsDer, issuer, profile);
    } catch (e) {
      // Not signed: the reservation is closed as failed rather than left looking like an interrupted issuance.
      await deps.certificates.markFailed(id).catch(() => undefined);
      throw e;
    }

    let der: Uint8Array;
    try {
      ({ der } = await signCertificate(tbsDer, issuer.signer, { priority: 'normal' }));
    } catch (e) {
      // The token may or may not have produced a signature: the row stays revocable, marked failed, never returned.
      await deps.certificates.markFailed(id).catch(() => undefined);
      if (isHsmError(e)) throw new IssuanceError('unavailable', 'the HSM is unavailable or busy; try again', e.retryAfterSeconds ?? 5);
      throw e;
    }

    try {
      await deps.certificates.markIssued(id, der, deps.clock(), async (trx) => {
        await deps.audit.append(
          {
            actor: req.client.name,
            action: 'certificate.issue',
            subject: serial.hex,
            details: { ca: issuer.row.name, profile: profile.name, subject: nameToString(spec.subject), sans: sanList(names.names), spkiSha256: csr.publicKey.spkiSha256, csrSha256, notAfter: spec.notAfter.toISOString() },
          },
          trx,
        );
      });
    } catch {
      throw unavailable('the certificate could not be recorded');
    }
    return { serial: serial.hex, der, chain: [issuer.row.certificateDer, ...issuer.chain], replayed: false };
  }

  private async lookup<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch {
      throw unavailable('the certificate database is unavailable');
    }
  }

  private replay(earlier: CertificateRow, csrSha256: string, profile: string): IssuedCertificate {
    if (earlier.csrSha256 !== csrSha256 || earlier.profile !== profile) throw new IssuanceError('idempotency_conflict', 'this Idempotency-Key was used for another request');
    if (!earlier.certificateDer) throw new IssuanceError('idempotency_conflict', 'the earlier request with this Idempotency-Key did not complete; use a new key');
    const issuer = this.deps.issuers.byId(earlier.caId);
    return { serial: earlier.serial, der: earlier.certificateDer, chain: issuer ? [issuer.row.certificateDer, ...issuer.chain] : [], replayed: true };
  }

  private lint(tbsDer: Uint8Array, issuer: Issuer, profile: Profile): void {
    // A finding here means the profile or the issuer is misconfigured, not that the client erred: a 500.
    assertNoLintErrors(lintCertificate(tbsDer, { signer: issuer.signer, issuerCertificate: issuer.row.certificateDer, ca: false, maxValidityDays: profile.validity.maxDays }));
  }

  private async reserve(template: Parameters<typeof certificateTemplate>[0], draft: TbsCertificateSpec, req: IssueRequest, csrSha256: string, issuer: Issuer) {
    for (let draw = 0; ; draw++) {
      const serial = await newSerial(this.deps.random);
      // The linted draft with the real serial: nothing else differs, and the template is not built again.
      const spec: TbsCertificateSpec = { ...draft, serial };
      const { der: tbsDer } = buildTbsCertificate(spec);
      try {
        const id = await this.deps.certificates.reserve({
          caId: issuer.row.id,
          serial: serial.hex,
          tbsDer,
          subjectDn: nameToString(spec.subject),
          sans: sanList(template.names),
          profile: template.profile.name,
          clientId: req.client.id,
          idempotencyKey: req.idempotencyKey ?? null,
          csrSha256,
          spkiSha256: sha256(template.spki),
          notBefore: spec.notBefore,
          notAfter: spec.notAfter,
        });
        return { id, serial, tbsDer, spec };
      } catch (e) {
        if (e instanceof SerialTaken && draw + 1 < MAX_SERIAL_DRAWS) continue;
        if (e instanceof IdempotencyKeyTaken) {
          // A concurrent request with the same key won the race: answer as it did once it has finished (the same
          // certificate, or a conflict for another CSR), and ask to retry while it is still in progress.
          const earlier = await this.lookup(() => this.deps.certificates.byIdempotencyKey(req.client.id, req.idempotencyKey!));
          if (earlier?.certificateDer || (earlier && (earlier.csrSha256 !== csrSha256 || earlier.profile !== template.profile.name))) {
            throw new ReplayInstead(this.replay(earlier, csrSha256, template.profile.name));
          }
          if (earlier) throw new IssuanceError('idempotency_conflict', 'a request with this Idempotency-Key is in progress; retry', 1);
        }
        throw unavailable('the certificate database is unavailable');
      }
    }
  }
}
