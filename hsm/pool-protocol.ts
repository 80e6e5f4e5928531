/**
 * Messages between the session pool (main thread) and its session workers. Plain data only: they cross threads, or
 * processes (child_process IPC as JSON, binary fields in base64: process-codec.ts).
 */
import type { HsmErrorKind } from './errors.ts';
import type { KeySelector } from './key-objects.ts';
import type { SignatureAlgorithm } from './key-spec.ts';
import type { SignatureEncoding } from './sign-operation.ts';
import type { TokenSelector } from './token.ts';

export type KeyHandleMode = 'token' | 'session-copy';

export interface WorkerInit {
  index: number;
  module: string;
  token: TokenSelector;
  pin: string;
  keyHandles: KeyHandleMode;
  /** Results are sent back once this many are ready, or when the worker runs out of work. */
  flushEvery: number;
  /** The worker's nice value (worker-priority.ts): above its feeder's, so the feeder is never starved by it. */
  nice: number;
  /** How workers of this token keep to one login attempt at a time and serialise object lookups; see WorkerSync. */
  sync: WorkerSync;
}

/**
 * Worker threads share one PKCS#11 application (one login, one set of session objects): they coordinate through
 * shared memory. Child processes are applications of their own; shared memory does not reach them (login-gate.ts,
 * FileLoginGate, says what replaces it).
 */
export type WorkerSync =
  | {
      kind: 'threads';
      /** Int32Array over a SharedArrayBuffer: the process-wide login gate (see login-gate.ts). */
      loginGate: SharedArrayBuffer;
      /** Process-wide mutex (SharedMutex) around key lookups and session copies, see session-worker.ts keyFor. */
      objectLock: SharedArrayBuffer;
    }
  | {
      kind: 'processes';
      /** A directory (mode 0700) private to this token pool's processes: the login lock file and refusal marker. */
      loginDir: string;
    };

export interface WireOp {
  id: number;
  key: KeySelector;
  /** Hex SHA-256 of the SPKI the key must have; a key with another public key is refused. */
  spki?: string;
  alg: SignatureAlgorithm;
  data: Uint8Array;
  enc: SignatureEncoding;
  /** Epoch milliseconds after which the operation must not reach the token. */
  deadline: number;
  /**
   * The caller's priority as a rank (0 high, 1 normal, 2 low): a worker holds up to pipelineDepth operations and
   * takes lower ranks first, so an OCSP signature does not wait behind the bulk work already handed to it.
   */
  rank: number;
}

export interface WireError {
  kind: HsmErrorKind;
  message: string;
  ckr?: number;
}

export interface WireResult {
  id: number;
  sig?: Uint8Array;
  err?: WireError;
  /** Milliseconds spent at the token, for the latency histogram. */
  ms: number;
}

export type ToWorker = { t: 'ops'; ops: WireOp[] } | { t: 'probe' } | { t: 'close' };

/** A child process gets its WorkerInit (the PIN included) as its first message, never in argv or the environment. */
export type ToProcess = ToWorker | { t: 'init'; init: WorkerInit; title: string };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'init-failed'; err: WireError }
  | { t: 'results'; results: WireResult[] }
  | { t: 'state'; up: boolean; err?: WireError }
  | { t: 'closed' };
