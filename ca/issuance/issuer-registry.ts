/**
 * The issuers this CA runs, each with a Signer over the HSM pool. The active one issues new certificates;
 * superseded ones still sign CRLs for what they issued. Keys are addressed by the PKCS#11 URI recorded at import,
 * and every signature names the certificate's public key, so a different key under that name is never used.
 */
import { createHash } from 'node:crypto';
import { parsePkcs11Uri, PoolSigner, type KeyType, type Signer, type SigningPool } from '../../hsm/index.ts';
import type { AuthorityRow, AuthorityStore } from '../db/authority-store.ts';
import { fromPem, issuerInfo, parseSpki, type IssuerInfo } from '../x509/index.ts';

export interface Issuer {
  row: AuthorityRow;
  info: IssuerInfo;
  signer: Signer;
  /** Issuer certificates above this CA, DER, nearest first. */
  chain: Uint8Array[];
}

export class IssuerRegistry {
  private issuers = new Map<number, Issuer>();
  /** SPKI SHA-256 of every CA key we know: issuers (retired ones too) and the certificates above them. */
  private caKeys = new Set<string>();

  constructor(
    private readonly store: AuthorityStore,
    private readonly pool: SigningPool,
  ) {}

  /** Reads the issuers from the database; call at start and after an import or a state change. */
  async reload(): Promise<void> {
    const next = new Map<number, Issuer>();
    const caKeys = new Set<string>();
    for (const row of await this.store.list()) {
      caKeys.add(row.spkiSha256);
      for (const der of chainOf(row.chainPem)) caKeys.add(sha256(issuerInfo(der).spki));
      if (row.status === 'retired') continue;
      const info = issuerInfo(row.certificateDer);
      const uri = parsePkcs11Uri(row.keyUri);
      const key = { ...(uri.object !== undefined ? { label: uri.object } : {}), ...(uri.id !== undefined ? { id: uri.id } : {}) };
      const keyType = keyTypeOf(info);
      const signer = new PoolSigner(this.pool, key, keyType, info.spki);
      next.set(row.id, { row, info, signer, chain: chainOf(row.chainPem) });
    }
    this.issuers = next;
    this.caKeys = caKeys;
  }

  active(): Issuer | undefined {
    for (const i of this.issuers.values()) if (i.row.status === 'active') return i;
    return undefined;
  }

  byId(id: number): Issuer | undefined {
    return this.issuers.get(id);
  }

  byName(name: string): Issuer | undefined {
    for (const i of this.issuers.values()) if (i.row.name === name) return i;
    return undefined;
  }

  all(): Issuer[] {
    return [...this.issuers.values()];
  }

  /** The key of an issuer (current, superseded or retired) or of a CA above one (the root, cross-certifiers). */
  isCaKey(spkiSha256: string): boolean {
    return this.caKeys.has(spkiSha256);
  }
}

function chainOf(chainPem: string): Uint8Array[] {
  return (chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((p) => fromPem(p, 'CERTIFICATE'));
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function keyTypeOf(info: IssuerInfo): KeyType {
  const keyType = parseSpki(info.spki).keyType;
  if (!keyType) throw new Error('issuer key of a type Strongroom does not sign with');
  return keyType;
}
