/**
 * The time-stamp authority: a TimeStampReq in, a TimeStampResp out. In order: parse (no serial, no HSM call for a
 * bad request) → policy → clock status → identity valid now → serial → TSTInfo → signed attributes signed once by
 * the HSM → token → recorded (committed before it is returned) → granted. Any failure becomes a rejection with its
 * PKIFailureInfo in one place (tsa-failure.ts).
 */
import type { Priority } from '../../hsm/index.ts';
import type { TimestampRecord } from '../db/timestamp-store.ts';
import type { HashName } from '../x509/algorithms.ts';
import { encodeTlv } from '../x509/der.ts';
import { imprintAlgorithm, oidDer } from './oids.ts';
import { parseTimestampRequest, type TimestampRequest } from './timestamp-request.ts';
import { rejectionResponse } from './timestamp-response.ts';
import { TokenTemplate } from './token-template.ts';
import { accuracyDer, encodeTstInfo } from './tst-info.ts';
import { rejectionOf, TsaFailure, type FailureInfo } from './tsa-failure.ts';
import type { TsaIdentity, TsaIdentitySource } from './tsa-identity.ts';

export interface TsaServiceDeps {
  identity: TsaIdentitySource;
  /** Dotted OIDs of the policies offered; the first is used when a request names none. */
  policies: readonly string[];
  /** The accuracy declared in every token (± this many milliseconds around genTime). */
  accuracyMs: number;
  clock: () => Date;
  /** False while the clock is known (or not known not) to be out of tolerance: timeNotAvailable. */
  clockOk: () => boolean;
  serials: { next(): Promise<bigint> };
  recorder: { record(row: TimestampRecord): Promise<void> };
  priority?: Priority;
}

export interface IssuedToken {
  serial: bigint;
  genTime: Date;
  policy: string;
  tokenDer: Uint8Array;
  /** The granted TimeStampResp around the token (tokenDer is a view into it). */
  responseDer: Uint8Array;
}

export interface TsaAnswer {
  httpStatus: 200 | 503;
  /** The TimeStampResp, DER. */
  der: Uint8Array;
  retryAfter?: number;
  granted?: IssuedToken;
  failInfo?: FailureInfo;
  /** An unexpected failure, answered systemFailure: for the log. */
  internalError?: unknown;
}

export class TsaService {
  private readonly policies: { der: Buffer; oid: string }[];
  private readonly accuracyDer: Uint8Array;
  private readonly templates = new WeakMap<TsaIdentity, TokenTemplate>();

  constructor(private readonly deps: TsaServiceDeps) {
    if (deps.policies.length === 0) throw new Error('the TSA needs at least one policy OID');
    this.policies = deps.policies.map((oid) => ({ der: Buffer.from(oidDer(oid)), oid }));
    this.accuracyDer = accuracyDer(deps.accuracyMs);
  }

  /** Answers one DER TimeStampReq; never throws. */
  async respond(requestDer: Uint8Array): Promise<TsaAnswer> {
    try {
      const granted = await this.issue(parseTimestampRequest(requestDer));
      return { httpStatus: 200, der: granted.responseDer, granted };
    } catch (e) {
      const r = rejectionOf(e);
      return {
        httpStatus: r.httpStatus,
        der: rejectionResponse(r.failure.failInfo, r.failure.message),
        failInfo: r.failure.failInfo,
        ...(r.failure.retryAfter !== undefined ? { retryAfter: r.failure.retryAfter } : {}),
        ...(r.internal ? { internalError: e } : {}),
      };
    }
  }

  /** A token over a digest we computed ourselves (audit anchors): certReq set, default policy, no nonce. */
  issueForDigest(hash: HashName, digest: Uint8Array): Promise<IssuedToken> {
    const algorithm = imprintAlgorithm(hash);
    if (digest.length !== algorithm.length) throw new TsaFailure('badDataFormat', 'Bad message digest.');
    const messageImprintDer = encodeTlv(0x30, Buffer.concat([encodeTlv(0x30, algorithm.oid), encodeTlv(0x04, digest)]));
    return this.issue({ algorithm, imprint: digest, messageImprintDer, policyDer: undefined, nonceDer: undefined, nonce: undefined, certReq: true });
  }

  /** Throws TsaFailure (or an HSM / database error) when no token is issued. */
  async issue(req: TimestampRequest): Promise<IssuedToken> {
    const offered = req.policyDer ? this.offered(req.policyDer) : this.policies[0];
    if (!offered) throw new TsaFailure('unacceptedPolicy', 'Requested policy is not supported.');
    const policyDer = offered.der;
    const policy = offered.oid;
    if (!this.deps.clockOk()) throw new TsaFailure('timeNotAvailable', 'The time source is not available.');
    const identity = this.deps.identity();
    const now = this.deps.clock();
    if (!identity || now < identity.notBefore || now > identity.notAfter) throw new TsaFailure('systemFailure', 'the TSA has no valid certificate now; try again later', 30);
    const template = this.template(identity);

    const serial = await this.deps.serials.next();
    // The time is read after the serial: a token's genTime is never earlier than a wait it went through.
    const genTime = this.deps.clock();
    const tstInfo = encodeTstInfo({
      policyDer,
      messageImprintDer: req.messageImprintDer,
      serial,
      genTime,
      accuracyDer: this.accuracyDer,
      nonceDer: req.nonceDer,
      tsaNameDer: template.tsaNameDer,
    });
    const signedAttributes = template.signedAttributes(tstInfo);
    const signature = await identity.signer.sign(signedAttributes, { algorithm: template.algorithm, encoding: 'der', ...(this.deps.priority ? { priority: this.deps.priority } : {}) });
    const { responseDer, tokenDer } = template.response(tstInfo, signedAttributes, signature, req.certReq);
    await this.deps.recorder.record({
      serial,
      genTime,
      policy,
      hashAlgorithm: req.algorithm.hash,
      imprint: req.imprint,
      nonce: req.nonce,
      tsaCertSha256: template.certSha256,
      // Recorded without the certificate (unsigned, named by its hash): half the bytes per row.
      tokenDer: req.certReq ? template.token(tstInfo, signedAttributes, signature, false) : tokenDer,
    });
    return { serial, genTime, policy, tokenDer, responseDer };
  }

  private offered(policyDer: Uint8Array): { der: Buffer; oid: string } | undefined {
    for (const p of this.policies) if (p.der.equals(policyDer)) return p;
    return undefined;
  }

  private template(identity: TsaIdentity): TokenTemplate {
    let t = this.templates.get(identity);
    if (!t) {
      t = new TokenTemplate(identity.certificateDer, identity.signer.algorithm);
      this.templates.set(identity, t);
    }
    return t;
  }
}
