/**
 * Certificate issuance, in the order that keeps every promise: parse → CSR signature → key checks → policy →
 * serial reserved with the TBS recorded → lint → HSM signature → signature verified → certificate committed with
 * its audit entry → returned (the steps from the reservation on are issuance-pipeline.ts, shared with
 * issueForKey: certificates the CA issues to its own services for keys it generated). Nothing before the reservation writes to the database or calls the HSM (it reads:
 * the key-compromise block list, an earlier answer for the Idempotency-Key); a failure after the HSM call leaves a
 * row that can be revoked and that OCSP answers for.
 *
 * Validity: a request beyond the profile's maximum is refused (400 bad_validity: the requester learns the limit);
 * a validity that would outlast the issuer is clamped to the issuer's notAfter (the answer carries the real dates).
 * CA profiles are never offered here: the composition passes leaf profiles only (leaf-profiles.ts).
 */
import type { AuditLog } from '../audit/index.ts';
import type { AuditTrx } from '../db/audit-store.ts';
import { IdempotencyKeyTaken, type CertificateRow, type CertificateStore } from '../db/certificate-store.ts';
import { checkKeyNotBlocked, CsrError, parseCsr, type ParsedCsr } from '../csr/index.ts';
import type { NameRequest, NormalizedNames, PolicyRuleSet } from '../policy/name-policy.ts';
import { decideProfileNames, keyTypeAllowed, validityDays, type Profile } from '../profiles/index.ts';
import type { KeyType } from '../profiles/profile.ts';
import type { TemplateInput, PublicUrls } from './certificate-template.ts';
import { BatchedLookup } from '../db/batched-lookup.ts';
import { IssuanceError } from './issuance-error.ts';
import { IssuancePipeline, sha256Hex, unavailable, type PipelineRequest } from './issuance-pipeline.ts';
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
  /** performance.now() by which the caller answers anyway (PipelineRequest.deadlineAt). */
  deadlineAt?: number;
}

export interface IssuedCertificate {
  serial: string;
  der: Uint8Array;
  /** The issuing CA first, then its issuers. */
  chain: Uint8Array[];
  /** True when an earlier request with the same Idempotency-Key and CSR is answered again. */
  replayed: boolean;
}

/** A certificate the CA issues to itself for a key it generated (no CSR, no client): OCSP, TSA, HTTPS. */
export interface KeyIssueRequest {
  profile: string;
  /** DER SubjectPublicKeyInfo of the key, read back from the HSM that generated it. */
  spki: Uint8Array;
  keyType: KeyType;
  /** SANs; judged by the profile's rules alone (there is no client grant). */
  names?: Omit<NameRequest, 'cn'>;
  validityDays?: number;
  /** The issuer's certificate_authorities id; default the active issuer. */
  caId?: number;
  actor: string;
  /** More audit details, e.g. { purpose: 'ocsp' }. */
  details?: Record<string, string>;
  /** Rows that must commit with the certificate, in its transaction. */
  record?: (trx: AuditTrx, issued: { certificateId: number; der: Uint8Array; notBefore: Date; notAfter: Date }) => Promise<void>;
}

export interface KeyIssuedCertificate {
  /** The certificates row. */
  certificateId: number;
  caId: number;
  serial: string;
  der: Uint8Array;
  chain: Uint8Array[];
  notBefore: Date;
  notAfter: Date;
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
  /**
   * True while signing work that goes ahead of issuance (OCSP, CRLs) fills the HSM beyond what its sessions hold: a
   * certificate would wait behind it until its deadline and leave a failed row, so it is refused first (503).
   */
  hsmBusy?: () => boolean;
}

export class IssuanceService {
  private readonly pipeline: IssuancePipeline;
  /** Key-compromise lookups of concurrent requests, asked in one query (each request still waits for its answer). */
  private readonly keyLookups: BatchedLookup<string, true>;

  constructor(private readonly deps: IssuanceDeps) {
    this.pipeline = new IssuancePipeline(deps);
    this.keyLookups = new BatchedLookup(async (keys) => new Map([...(await deps.certificates.compromisedKeys(keys))].map((k) => [k, true as const])));
  }

  private async isCompromisedKey(spkiSha256: string): Promise<boolean> {
    return (await this.keyLookups.get(spkiSha256)) === true;
  }

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
    const csrSha256 = sha256Hex(csr.der);

    if (req.idempotencyKey !== undefined) {
      const earlier = await this.lookup(() => deps.certificates.byIdempotencyKey(req.client.id, req.idempotencyKey!));
      if (earlier) return this.replay(earlier, csrSha256, profile.name);
    }

    const keyType = csr.publicKey.keyType as KeyType;
    try {
      await checkKeyNotBlocked(csr.publicKey.spkiSha256, { isCaKey: (h) => deps.issuers.isCaKey(h), isCompromised: (h) => this.isCompromisedKey(h) });
    } catch (e) {
      if (e instanceof CsrError) throw new IssuanceError('weak_key', e.message);
      throw unavailable('the certificate database is unavailable');
    }
    if (!keyTypeAllowed(profile, keyType)) throw new IssuanceError('weak_key', `a ${csr.publicKey.keyType} key is not allowed by the ${profile.name} profile`);

    const names = decideProfileNames(profile, { ...csr.requested, ...(csr.cn !== undefined ? { cn: csr.cn } : {}) }, req.client.rules);
    if (!names.ok) throw new IssuanceError(names.code, names.detail);
    const template = this.template(profile, deps.issuers.active(), names.names, names.cn, keyType, csr.publicKey.spki, req.validityDays);

    const run: PipelineRequest = {
      template,
      clientId: req.client.id,
      idempotencyKey: req.idempotencyKey ?? null,
      csrSha256,
      actor: req.client.name,
      details: { csrSha256 },
      ...(req.deadlineAt !== undefined ? { deadlineAt: req.deadlineAt } : {}),
    };
    try {
      const { serial, der } = await this.pipeline.run(run);
      return { serial: serial.hex, der, chain: [template.issuer.row.certificateDer, ...template.issuer.chain], replayed: false };
    } catch (e) {
      if (e instanceof IdempotencyKeyTaken) return this.raced(req, csrSha256, profile.name);
      throw e;
    }
  }

  /**
   * Issues a certificate for a key the CA generated itself, through the same pipeline as issue(): no CSR to parse
   * (the SPKI comes from the HSM), no client grant (the profile's rules alone judge the names), client_id NULL.
   */
  async issueForKey(req: KeyIssueRequest): Promise<KeyIssuedCertificate> {
    const { deps } = this;
    const profile = deps.profiles.get(req.profile);
    if (!profile) throw new IssuanceError('unknown_profile', `unknown profile ${JSON.stringify(req.profile)}`);
    if (!keyTypeAllowed(profile, req.keyType)) throw new IssuanceError('weak_key', `a ${req.keyType} key is not allowed by the ${profile.name} profile`);
    const names = decideProfileNames(profile, req.names ?? {}, []);
    if (!names.ok) throw new IssuanceError(names.code, names.detail);
    const issuer = req.caId === undefined ? deps.issuers.active() : deps.issuers.byId(req.caId);
    const template = this.template(profile, issuer, names.names, undefined, req.keyType, req.spki, req.validityDays);
    const { id, serial, der, spec } = await this.pipeline.run({
      template,
      clientId: null,
      idempotencyKey: null,
      csrSha256: null,
      actor: req.actor,
      details: req.details ?? {},
      ...(req.record ? { record: (trx, i) => req.record!(trx, { certificateId: i.id, der: i.der, notBefore: i.spec.notBefore, notAfter: i.spec.notAfter }) } : {}),
    });
    return { certificateId: id, caId: template.issuer.row.id, serial: serial.hex, der, chain: [template.issuer.row.certificateDer, ...template.issuer.chain], notBefore: spec.notBefore, notAfter: spec.notAfter };
  }

  /** Validity, issuer and HSM checks shared by both entry points, in the order the API documents. */
  private template(profile: Profile, issuer: Issuer | undefined, names: NormalizedNames, cn: string | undefined, keyType: KeyType, spki: Uint8Array, requestedDays: number | undefined): TemplateInput {
    const { deps } = this;
    const validity = validityDays(profile, requestedDays);
    if (!validity.ok) throw new IssuanceError('bad_validity', validity.detail);
    if (!issuer) throw new IssuanceError('no_issuer', 'no issuing CA is active', 30);
    const now = deps.clock();
    // An issuer past its notAfter (or not yet valid) cannot issue: the certificate would end before it begins.
    if (issuer.info.notAfter.getTime() <= now.getTime() || issuer.info.notBefore.getTime() > now.getTime()) throw new IssuanceError('no_issuer', 'the issuing CA is outside its validity period', 30);
    // An HSM known to be down would only turn the reservation into a failed row: refuse before taking a serial.
    if (deps.hsmReady && !deps.hsmReady()) throw new IssuanceError('unavailable', 'the HSM is unavailable; try again', 5);
    if (deps.hsmBusy?.()) throw new IssuanceError('unavailable', 'the HSM is busy; try again', 1);
    return { profile, issuer, names, cn, keyType, spki, validityDays: validity.days, now, urls: deps.urls };
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

  /**
   * A concurrent request with the same key won the reservation race: answer as it did once it has finished (the
   * same certificate, or a conflict for another CSR), and ask to retry while it is still in progress.
   */
  private async raced(req: IssueRequest, csrSha256: string, profile: string): Promise<IssuedCertificate> {
    const earlier = await this.lookup(() => this.deps.certificates.byIdempotencyKey(req.client.id, req.idempotencyKey!));
    if (earlier?.certificateDer || (earlier && (earlier.csrSha256 !== csrSha256 || earlier.profile !== profile))) return this.replay(earlier, csrSha256, profile);
    if (earlier) throw new IssuanceError('idempotency_conflict', 'a request with this Idempotency-Key is in progress; retry', 1);
    throw unavailable('the certificate database is unavailable');
  }
}
