// The hsm/ surface: what the rest of Strongroom may use. Nothing here exposes pkcs11js.
export * from './errors.ts';
export * from './key-spec.ts';
export type { KeySelector } from './key-objects.ts';
export type { GeneratedKey, KeygenRequest, KeyProtection } from './keygen.ts';
export { Pkcs11KeyStore, type KeyInfo, type KeyStore, type KeyStoreOptions, type TokenDescription } from './key-store.ts';
export { parsePkcs11Uri, formatPkcs11Uri, Pkcs11UriError, type Pkcs11Uri } from './pkcs11-uri.ts';
export { parsePinSource, readPin, describePinSource, PinSourceError, type PinSource } from './pin-source.ts';
export { SessionPool, type PoolHealth, type SessionPoolOptions, type SignRequest, type SigningPool } from './session-pool.ts';
export type { TokenTarget } from './token-pool.ts';
export type { Priority } from './priority-queue.ts';
export { PoolSigner, type Signer, type SignOptions } from './signer.ts';
export { hsmCrypto, type HsmCrypto } from './webcrypto-signer.ts';
export { noMetrics, type PoolMetrics } from './pool-metrics.ts';
export { promPoolMetrics } from './prom-pool-metrics.ts';
export { initSoftToken, isSoftHsm, useSoftHsmDataDir, SOFTHSM_MODULE } from './soft-token.ts';
export { spkiSha256 } from './public-key.ts';
export { ecdsaDerToRaw, ecdsaRawToDer } from './signature-encoding.ts';
export type { TokenSelector } from './token.ts';
