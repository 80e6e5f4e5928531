/**
 * One issuer's delegated responder as the hot path needs it: the encoder holding everything that does not change
 * per response (responderID, algorithm, the certificate) and a Signer for its HSM key.
 */
import { defaultAlgorithm, KEY_TYPES, type KeyType } from '../hsm/key-spec.ts';
import { PoolSigner, type SigningPool } from '../hsm/index.ts';
import { ResponseEncoder } from './encoding/index.ts';
import type { ResponderRow } from './db/ocsp-store.ts';

export interface ResponderIdentity {
  row: ResponderRow;
  encoder: ResponseEncoder;
  /** Absent in a responder with no HSM access: it serves pre-signed answers only. */
  signer?: PoolSigner;
}

export function responderIdentity(row: ResponderRow, pool: SigningPool | undefined): ResponderIdentity {
  if (!(KEY_TYPES as readonly string[]).includes(row.keyType)) throw new Error(`responder ${row.id}: unsupported key type ${row.keyType}`);
  const keyType = row.keyType as KeyType;
  // OCSP signing goes ahead of issuance when the pool is saturated.
  const signer = pool ? new PoolSigner(pool, { label: row.keyLabel, id: row.keyId }, keyType, row.spkiDer, { priority: 'high' }) : undefined;
  const encoder = new ResponseEncoder({ certificateDer: row.certificateDer, signatureAlgorithm: defaultAlgorithm(keyType) });
  return { row, encoder, ...(signer ? { signer } : {}) };
}
