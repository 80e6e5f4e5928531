// Shared plumbing for the session pool tests (pool.test.ts, pool-faults.test.ts, pool-failover.test.ts).
//
// Every pool test file runs in its own forked process (vitest), so the fault shim's environment can be set on
// process.env here — before the shim is first loaded — and the shim, SoftHSM2 and the pool's worker threads all
// share one C environment and one SoftHSM2 instance.
import type { ChildProcess } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pkcs11js from 'pkcs11js';
import { expect } from 'vitest';
import type { HsmError, HsmErrorKind } from '../../hsm/errors.ts';
import type { GeneratedKey } from '../../hsm/keygen.ts';
import type { KeyType } from '../../hsm/key-spec.ts';
import { Pkcs11KeyStore } from '../../hsm/key-store.ts';
import type { Outcome, PoolMetrics } from '../../hsm/pool-metrics.ts';
import { spkiSha256 } from '../../hsm/public-key.ts';
import { SessionPool, type SessionPoolOptions, type SignRequest } from '../../hsm/session-pool.ts';
import { SOFTHSM_MODULE } from '../../hsm/soft-token.ts';
import type { TokenTarget } from '../../hsm/token-pool.ts';
import { buildFaultShim } from '../fault/build-shim.ts';
import { FaultControl } from '../fault/fault-control.ts';
import type { TestToken } from '../support/token.ts';

export const REAL_MODULE = SOFTHSM_MODULE;

let shimPath: string | undefined;

/**
 * A FaultControl with its own rule and statistics files, its paths put into the C environment. The shim re-reads
 * the environment on every C_Initialize, so the next pool's workers switch to these files and the shim's counters
 * (max_concurrent_sign included) start again from zero.
 */
export function freshFaults(): FaultControl {
  const root = process.env.STRONGROOM_TEST_ROOT ?? tmpdir();
  const fc = new FaultControl(mkdtempSync(join(root, 'pool-faults-')));
  fc.applyEnv();
  return fc;
}

/** Builds the shim (once per process) and sets up its first control files. Call before anything loads the shim. */
export function setUpShim(): { shim: string; fc: FaultControl } {
  const fc = freshFaults();
  shimPath ??= buildFaultShim();
  return { shim: shimPath, fc };
}

/** Generates a key on the token through the real module, then closes the key store's session. */
export function generateKey(token: TestToken, label: string, type: KeyType = 'ec-p256'): GeneratedKey {
  const ks = Pkcs11KeyStore.open({ module: REAL_MODULE, token: { label: token.label }, pin: token.pin });
  try {
    return ks.generate({ type, label });
  } finally {
    ks.close();
  }
}

export function target(token: TestToken, module: string, name = 'primary'): TokenTarget {
  return { name, module, token: { label: token.label }, pin: token.pin };
}

export function poolOptions(primary: TokenTarget, overrides: Partial<SessionPoolOptions> = {}): SessionPoolOptions {
  return {
    primary,
    workers: 2,
    pipelineDepth: 4,
    queueLimit: 1000,
    deadlineMs: 5000,
    keyHandles: 'session-copy',
    reconnectInitialMs: 100,
    reconnectMaxMs: 500,
    ...overrides,
  };
}

/** Every pool a test opens, so afterEach can close what a failing test left open. */
const openPools = new Set<SessionPool>();

export async function openPool(options: SessionPoolOptions): Promise<SessionPool> {
  const pool = await SessionPool.open(options);
  openPools.add(pool);
  return pool;
}

export async function closeAllPools(): Promise<void> {
  const pools = [...openPools];
  openPools.clear();
  await Promise.all(pools.map((p) => p.close()));
}

/** What the tests need of a key: a generated one, or one imported into several tokens. */
export type KeyRef = Pick<GeneratedKey, 'label' | 'id' | 'type' | 'spki' | 'spkiSha256'>;

/** A signature request for `key`, naming its public key so a wrong key is refused. */
export function request(key: KeyRef, data: Uint8Array, extra: Partial<SignRequest> = {}): SignRequest {
  return { key: { label: key.label }, spki: key.spkiSha256, algorithm: key.type === 'ec-p256' ? 'ecdsa-sha256' : 'rsa-pkcs1-sha256', data, ...extra };
}

/** Verifies a DER (or raw r||s) signature with Node's crypto against the SPKI the token reported. */
export function verifies(spki: Uint8Array, data: Uint8Array, sig: Uint8Array, opts: { raw?: boolean; pss?: boolean } = {}): boolean {
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType === 'ed25519') return nodeVerify(null, data, key, sig);
  return nodeVerify('sha256', data, {
    key,
    ...(opts.raw ? { dsaEncoding: 'ieee-p1363' as const } : {}),
    ...(opts.pss ? { padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 } : {}),
  }, sig);
}

/** A promise the test can inspect without awaiting: has it settled, how, and when. */
export interface Tracked {
  promise: Promise<void>;
  settled: boolean;
  startedAt: number;
  settledAt?: number;
  sig?: Uint8Array;
  error?: HsmError;
  /** Completion order across every tracked promise of the test. */
  order?: number;
  /** Milliseconds from submission to settlement. */
  readonly ms: number;
  readonly kind: Outcome | undefined;
}

let completions = 0;

export function track(p: Promise<Uint8Array>): Tracked {
  const t: Tracked = {
    promise: Promise.resolve(),
    settled: false,
    startedAt: performance.now(),
    get ms() {
      return (this.settledAt ?? performance.now()) - this.startedAt;
    },
    get kind(): Outcome | undefined {
      if (!this.settled) return undefined;
      return this.error ? this.error.kind : 'ok';
    },
  };
  t.promise = p.then(
    (sig) => {
      t.sig = sig;
    },
    (e: unknown) => {
      t.error = e as HsmError;
    },
  ).finally(() => {
    t.settled = true;
    t.settledAt = performance.now();
    t.order = completions++;
  });
  return t;
}

export async function outcome(p: Promise<Uint8Array>): Promise<Tracked> {
  const t = track(p);
  await t.promise;
  return t;
}

export function expectKind(t: Tracked, kind: HsmErrorKind | 'ok'): void {
  expect(t.settled, 'settled').toBe(true);
  if (kind === 'ok') expect(t.error?.message ?? 'ok').toBe('ok');
  else {
    expect(t.error, `expected ${kind}, got a signature`).toBeDefined();
    expect(`${t.error!.kind}: ${t.error!.message}`).toMatch(new RegExp(`^${kind}:`));
  }
}

/** Polls `cond` every 10 ms until it holds or `timeoutMs` passes; returns the milliseconds it took. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what = 'condition'): Promise<number> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
  return performance.now() - start;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Reads the shim's statistics until `key` reaches at least `min` (the file is rewritten asynchronously). */
export async function statAtLeast(fc: FaultControl, key: string, min: number, timeoutMs = 2000): Promise<number> {
  await waitFor(() => (fc.stats()[key] ?? 0) >= min, timeoutMs, `${key} >= ${min}`);
  return fc.stats()[key]!;
}

/** Which token served each successful operation, from the pool's metrics hook. */
export function recordingMetrics(): PoolMetrics & { ops: { token: string; outcome: Outcome }[] } {
  const ops: { token: string; outcome: Outcome }[] = [];
  return {
    ops,
    operation(token, _key, _s, outcome) {
      ops.push({ token, outcome });
    },
    queueWait() {},
    ckrError() {},
    rejected() {},
    gauges() {},
  };
}

const P256_OID = Buffer.from('06082a8648ce3d030107', 'hex');

/**
 * Imports one software-made P-256 key into several tokens — the test's stand-in for a key restored from backup into
 * a DR token. CKA_SENSITIVE true and CKA_EXTRACTABLE false as a restored key would be. Test-only: Strongroom itself
 * never creates keys outside the token.
 */
export function importSameKey(tokens: TestToken[], label: string): KeyRef {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  const d = Buffer.from(jwk.d!, 'base64url');
  const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  const ecPoint = Buffer.concat([Buffer.from([0x04, point.length]), point]);
  const id = Buffer.from(label.padEnd(8, '.').slice(0, 8));
  const p = new pkcs11js.PKCS11();
  p.load(REAL_MODULE);
  try {
    p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    if ((e as { code?: number }).code !== 0x191) throw e;
  }
  try {
    for (const t of tokens) {
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.replace(/[\0 ]+$/, '') === t.label);
      if (!slot) throw new Error(`token ${t.label} not found`);
      const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        try {
          p.C_Login(session, pkcs11js.CKU_USER, t.pin);
        } catch (e) {
          if ((e as { code?: number }).code !== 0x100) throw e;
        }
        const common = [
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_LABEL, value: label },
          { type: pkcs11js.CKA_ID, value: id },
          { type: pkcs11js.CKA_EC_PARAMS, value: P256_OID },
        ];
        p.C_CreateObject(session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
          ...common,
          { type: pkcs11js.CKA_VERIFY, value: true },
          { type: pkcs11js.CKA_EC_POINT, value: ecPoint },
        ]);
        p.C_CreateObject(session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
          ...common,
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_DECRYPT, value: false },
          { type: pkcs11js.CKA_UNWRAP, value: false },
          { type: pkcs11js.CKA_DERIVE, value: false },
          { type: pkcs11js.CKA_VALUE, value: d },
        ]);
      } finally {
        p.C_CloseSession(session);
      }
    }
  } finally {
    p.close();
  }
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return { label, id: id.toString('hex'), type: 'ec-p256', spki, spkiSha256: spkiSha256(spki) };
}

/**
 * Child processes started by this process from now on (the pool's worker processes among them), seen through
 * Node's 'child_process' diagnostics channel; `stop()` ends the recording.
 */
export function recordChildProcesses(): { children: ChildProcess[]; live(): ChildProcess[]; stop(): void } {
  const children: ChildProcess[] = [];
  const onSpawn = (m: unknown) => children.push((m as { process: ChildProcess }).process);
  subscribe('child_process', onSpawn);
  return {
    children,
    live: () => children.filter((c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null),
    stop: () => unsubscribe('child_process', onSpawn),
  };
}

/** Whether a process with this pid exists (and is not a zombie). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
