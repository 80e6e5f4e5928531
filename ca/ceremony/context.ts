/**
 * Dual control and the HSM session of one ceremony.
 *
 * unlockCeremony: M of N custodians each give their share (typed without echo, or — for rehearsals and tests
 * only — read from files named on the command line); the token PIN is reconstructed in memory and nowhere else.
 *
 * openCeremonyHsm: exactly one login attempt (Pkcs11KeyStore.open); a refused PIN is an HsmError of kind 'auth'
 * and is never retried, since the token's retry counter matters. Signing goes through the Signer interface: a
 * PoolSigner over a SessionPool with one worker that signs with the token object itself (no session copies of an
 * offline root key).
 */
import { Pkcs11KeyStore, PoolSigner, SessionPool, type KeyType, type SignatureAlgorithm, type Signer, type TokenDescription } from '../../hsm/index.ts';
import type { TokenSelector } from '../../hsm/token.ts';
import { collectShares, combineShares, CustodyError, parseShare, unlockPin, type ShareSource } from './custody.ts';

export interface ShareFile {
  /** The custodian whose share it is; positional files are given to the config's custodians in order. */
  custodian?: string;
  path: string;
}

export type ShareInput =
  | { kind: 'prompt'; ask?: (question: string) => Promise<string>; notify?: (message: string) => void }
  /** Rehearsals and tests only: see README ("Ceremonies") for why a real ceremony must not use files. */
  | { kind: 'files'; files: ShareFile[] };

export interface Custody {
  threshold: number;
  custodians: string[];
}

export interface Unlocked {
  pin: string;
  /** Who gave a share, in order (the transcript records how many, never the shares). */
  contributors: string[];
}

export interface Gathered {
  /** Exactly `threshold` shares, each already checked. */
  shares: string[];
  contributors: string[];
}

/**
 * Collects M valid shares of one custody group (`section`: "custody" for the PIN, "kek-custody" for a backup's
 * KEK). Every failure is a CustodyError whose message starts with the section's field.
 */
export async function gatherShares(custody: Custody, input: ShareInput, section = 'custody'): Promise<Gathered> {
  let custodians: string[];
  let source: ShareSource;
  if (input.kind === 'files') {
    const named = input.files.filter((f) => f.custodian !== undefined);
    if (named.length !== 0 && named.length !== input.files.length) {
      throw new CustodyError('bad-request', `${section}: give every share file as NAME=PATH, or none of them`);
    }
    custodians = input.files.map((f, i) => f.custodian ?? custody.custodians[i] ?? `#${i + 1}`);
    const unknown = custodians.filter((c) => !custody.custodians.includes(c));
    if (unknown.length) throw new CustodyError('bad-request', `${section}.custodians: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a custodian' : 'are not custodians'} of this ceremony`);
    if (new Set(custodians).size !== custodians.length) throw new CustodyError('bad-request', `${section}.custodians: one share file per custodian`);
    if (input.files.length < custody.threshold) {
      throw new CustodyError('too-few', `${section}.threshold: ${custody.threshold} shares are needed to unlock the ceremony, ${input.files.length} given`);
    }
    source = { kind: 'files', files: input.files.map((f) => f.path) };
  } else {
    custodians = custody.custodians;
    source = { kind: 'prompt', ...(input.ask ? { ask: input.ask } : {}), ...(input.notify ? { notify: input.notify } : {}) };
  }
  try {
    return await collectShares({ threshold: custody.threshold, custodians, source });
  } catch (e) {
    throw inSection(e, section);
  }
}

function inSection(e: unknown, section: string): unknown {
  if (e instanceof CustodyError && !e.message.startsWith(section)) {
    return new CustodyError(e.kind, `${e.kind === 'too-few' || e.kind === 'threshold-mismatch' ? `${section}.threshold` : section}: ${e.message}`);
  }
  return e;
}

/** Collects M valid shares and restores the PIN, in memory only. */
export async function unlockCeremony(custody: Custody, input: ShareInput): Promise<Unlocked> {
  const collected = await gatherShares(custody, input, 'custody');
  try {
    const pin = await unlockPin(collected.shares, custody.threshold);
    return { pin, contributors: collected.contributors };
  } catch (e) {
    throw inSection(e, 'custody');
  } finally {
    collected.shares.fill('');
  }
}

/** Collects M valid shares of a backup's KEK and combines them; the caller zeroes the result. */
export async function unlockKek(custody: Custody, input: ShareInput): Promise<{ kek: Uint8Array; splitId: string; contributors: string[] }> {
  const collected = await gatherShares(custody, input, 'kek-custody');
  try {
    const splitId = parseShare(collected.shares[0]!, 'share').splitId;
    return { kek: await combineShares(collected.shares, custody.threshold), splitId, contributors: collected.contributors };
  } catch (e) {
    throw inSection(e, 'kek-custody');
  } finally {
    collected.shares.fill('');
  }
}

export interface CeremonyHsmTarget {
  module: string;
  token: TokenSelector;
}

export interface CeremonyHsm {
  readonly store: Pkcs11KeyStore;
  readonly token: TokenDescription;
  readonly target: CeremonyHsmTarget;
  /** A Signer for a key already on the token, through the session pool (opened on first use). */
  signer(label: string, keyType: KeyType, spki: Uint8Array, algorithm: SignatureAlgorithm): Promise<Signer>;
  close(): Promise<void>;
}

/** RSA-4096 on a slow HSM can take a while; an offline ceremony has no reason to time out early. */
const CEREMONY_DEADLINE_MS = 60_000;

/** Logs in once. A wrong PIN throws HsmError('auth') after that single attempt; nothing here retries. */
export function openCeremonyHsm(target: CeremonyHsmTarget, pin: string): CeremonyHsm {
  const store = Pkcs11KeyStore.open({ module: target.module, token: target.token, pin });
  let token: TokenDescription;
  try {
    token = store.token();
  } catch (e) {
    store.close();
    throw e;
  }
  let pool: Promise<SessionPool> | undefined;
  let closed = false;
  let heldPin: string | undefined = pin;
  return {
    store,
    token,
    target,
    async signer(label, keyType, spki, algorithm) {
      if (closed) throw new Error('the ceremony HSM session is closed');
      pool ??= SessionPool.open({
        primary: { name: 'ceremony', module: target.module, token: target.token, pin: heldPin! },
        workers: 1,
        pipelineDepth: 1,
        queueLimit: 8,
        deadlineMs: CEREMONY_DEADLINE_MS,
        keyHandles: 'token',
      });
      heldPin = undefined;
      return new PoolSigner(await pool, { label }, keyType, spki, { algorithm });
    },
    async close() {
      if (closed) return;
      closed = true;
      heldPin = undefined;
      try {
        if (pool) await (await pool.catch(() => undefined))?.close();
      } finally {
        store.close();
      }
    },
  };
}
