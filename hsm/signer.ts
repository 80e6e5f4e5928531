/**
 * A Signer is one HSM key as consumers see it: its public key and a way to sign. ca/ and ocsp/ hold Signers,
 * never sessions or handles.
 */
import { HsmError } from './errors.ts';
import type { KeySelector } from './key-objects.ts';
import { algorithmFits, defaultAlgorithm, type KeyType, type SignatureAlgorithm } from './key-spec.ts';
import type { Priority } from './priority-queue.ts';
import { spkiSha256 } from './public-key.ts';
import type { SigningPool } from './session-pool.ts';
import type { SignatureEncoding } from './sign-operation.ts';

export interface SignOptions {
  algorithm?: SignatureAlgorithm;
  priority?: Priority;
  deadlineMs?: number;
  /** 'der' (default) for X.509, CMS and OCSP; 'raw' r||s for WebCrypto consumers. */
  encoding?: SignatureEncoding;
}

export interface Signer {
  readonly keyType: KeyType;
  readonly algorithm: SignatureAlgorithm;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  sign(data: Uint8Array, options?: SignOptions): Promise<Uint8Array>;
}

export class PoolSigner implements Signer {
  readonly algorithm: SignatureAlgorithm;
  private readonly spkiHash: string;

  constructor(
    private readonly pool: SigningPool,
    private readonly key: KeySelector,
    readonly keyType: KeyType,
    readonly spki: Uint8Array,
    private readonly defaults: { priority?: Priority; algorithm?: SignatureAlgorithm } = {},
  ) {
    this.algorithm = defaults.algorithm ?? defaultAlgorithm(keyType);
    if (!algorithmFits(keyType, this.algorithm)) throw new HsmError('bad-request', `a ${keyType} key cannot sign ${this.algorithm}`);
    this.spkiHash = spkiSha256(spki);
  }

  sign(data: Uint8Array, options: SignOptions = {}): Promise<Uint8Array> {
    return this.pool.sign({
      key: this.key,
      // Every operation names the public key it expects, so a failover token with another key under the same
      // label is refused rather than used.
      spki: this.spkiHash,
      algorithm: options.algorithm ?? this.algorithm,
      data,
      encoding: options.encoding ?? 'der',
      priority: options.priority ?? this.defaults.priority ?? 'normal',
      ...(options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {}),
    });
  }
}
