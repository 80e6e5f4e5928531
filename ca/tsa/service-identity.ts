/**
 * The TSA identity kept current from the CA's service certificates (ca/service-certs, purpose 'tsa'): the key and
 * certificate are issued on first use and renewed before expiry there; each new one is taken up here when it is
 * announced. Only the narrow shape used is declared, so this module does not depend on how they are kept.
 */
import { PoolSigner, type KeyType, type SigningPool } from '../../hsm/index.ts';
import { tsaIdentity, type TsaIdentity } from './tsa-identity.ts';

export interface TsaServiceCertificate {
  keyLabel: string;
  keyId: string;
  keyType: KeyType;
  spki: Uint8Array;
  certificateDer: Uint8Array;
  chain: Uint8Array[];
}

export interface TsaCertificateProvider {
  ensure(purpose: 'tsa'): Promise<TsaServiceCertificate>;
  onRotated(cb: (e: { purpose: string; current: TsaServiceCertificate }) => void): () => void;
}

export interface ServiceIdentityOptions {
  retryMs?: number;
  onError?: (err: unknown) => void;
}

export class ServiceTsaIdentity {
  private identity: TsaIdentity | undefined;
  private unsubscribe: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly provider: TsaCertificateProvider,
    private readonly pool: SigningPool,
    private readonly options: ServiceIdentityOptions = {},
  ) {}

  /** The source the TSA service reads on every request. */
  readonly current = (): TsaIdentity | undefined => this.identity;

  /** Follows rotations and obtains the first certificate; on failure retries in the background (answers 503 meanwhile). */
  async start(): Promise<void> {
    this.unsubscribe ??= this.provider.onRotated((e) => {
      if (e.purpose === 'tsa') this.take(e.current);
    });
    try {
      this.take(await this.provider.ensure('tsa'));
    } catch (err) {
      this.options.onError?.(err);
      if (!this.stopped) {
        this.retry = setTimeout(() => void this.start(), this.options.retryMs ?? 30_000);
        this.retry.unref();
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.retry) clearTimeout(this.retry);
  }

  private take(c: TsaServiceCertificate): void {
    try {
      const signer = new PoolSigner(this.pool, { label: c.keyLabel, id: c.keyId }, c.keyType, c.spki);
      this.identity = tsaIdentity(signer, c.certificateDer, c.chain);
    } catch (err) {
      this.options.onError?.(err);
    }
  }
}
