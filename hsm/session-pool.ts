/**
 * The session pool: every signature Strongroom makes goes through here. Bounded per-priority queues, a deadline on
 * every operation, fail-fast when no token can serve, and failover to a DR token holding the same keys (matched by
 * public key, never by label alone).
 */
import { ckrName } from './ckr.ts';
import { HsmBusy, HsmError, HsmTimeout, HsmUnavailable } from './errors.ts';
import { IdTable } from './id-table.ts';
import type { KeySelector } from './key-objects.ts';
import type { SignatureAlgorithm } from './key-spec.ts';
import { LoginGate } from './login-gate.ts';
import { noMetrics, type PoolMetrics } from './pool-metrics.ts';
import type { KeyHandleMode, WireOp, WireResult } from './pool-protocol.ts';
import { PRIORITIES, PriorityQueue, type Priority } from './priority-queue.ts';
import type { SignatureEncoding } from './sign-operation.ts';
import { hsmErrorFromWire, TokenPool, type TokenTarget } from './token-pool.ts';
import type { WorkerKind } from './worker-channel.ts';
import { DEFAULT_WORKER_NICE } from './worker-priority.ts';

export interface SessionPoolOptions {
  primary: TokenTarget;
  /** A second token holding the same keys (restored from backup); used only while the primary is down. */
  dr?: TokenTarget;
  /** Worker threads per token, one session each. Default: CPU count (in-process tokens); raise it for network HSMs. */
  workers: number;
  /** Operations handed to a worker before it answers; keeps workers busy while results travel. */
  pipelineDepth: number;
  /** Waiting operations allowed per priority level; beyond it, HsmBusy at once. */
  queueLimit: number;
  /** Default deadline per operation, queue wait included. */
  deadlineMs: number;
  keyHandles: KeyHandleMode;
  /** Session workers as threads (default) or as child processes, each with its own instance of the module. */
  workerKind?: WorkerKind;
  /**
   * Nice value of the session workers, 0-19 (default 10): lower priority than this thread, which feeds them
   * (worker-priority.ts says why).
   */
  workerNice?: number;
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  metrics?: PoolMetrics;
}

export interface SignRequest {
  key: KeySelector;
  /** Hex SHA-256 of the SPKI the key must have. Required for failover: the DR key is used only if it matches. */
  spki?: string;
  algorithm: SignatureAlgorithm;
  data: Uint8Array;
  encoding?: SignatureEncoding;
  /** OCSP and CRL signing are 'high', issuance 'normal', background refreshes 'low'. */
  priority?: Priority;
  deadlineMs?: number;
}

export interface PoolHealth {
  ready: boolean;
  serving: string | undefined;
  tokens: { name: string; state: string; workers: number; busy: number; error?: string }[];
  queued: Record<Priority, number>;
  inFlight: number;
}

/** What consumers of signing see: enough to sign and to report readiness. */
export interface SigningPool {
  sign(req: SignRequest): Promise<Uint8Array>;
  health(): PoolHealth;
  close(): Promise<void>;
}

interface Op {
  id: number;
  wire: WireOp;
  priority: Priority;
  enqueuedAt: number;
  deadline: number;
  keyName: string;
  token?: TokenPool;
  resolve(sig: Uint8Array): void;
  reject(e: HsmError): void;
}

/**
 * The bytes alone, in an ArrayBuffer of their own. Posting a view to a worker clones its whole ArrayBuffer: a small
 * Buffer from Node's pool (allocUnsafe, concat, from; Buffer#slice is a view too) is a view into 8 KiB, which the
 * structured clone copies and the worker allocates for every operation — the TSA's signed attributes did, per token.
 */
function ownBuffer(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : new Uint8Array(data);
}

const SWEEP_MS = 20;
/** A sweep this late means the event loop was blocked (see serving()). */
const LAG_MS = 250;

export class SessionPool implements SigningPool {
  private readonly tokens: TokenPool[];
  private readonly queue: PriorityQueue<Op>;
  private readonly inFlight = new IdTable<Op>();
  private readonly metrics: PoolMetrics;
  private nextId = 1;
  private closed = false;
  private readonly sweeper: NodeJS.Timeout;
  private lastSweepAt = Date.now();
  private responsiveSince = 0;

  private constructor(private readonly options: SessionPoolOptions) {
    this.metrics = options.metrics ?? noMetrics;
    this.queue = new PriorityQueue(options.queueLimit);
    const loginGates = new Map<string, SharedArrayBuffer>();
    const make = (target: TokenTarget) => {
      // Login state is per application and token: tokens share a gate only if they are the same token.
      const key = `${target.module}\u0000${target.token.label ?? ''}\u0000${target.token.serial ?? ''}`;
      if (!loginGates.has(key)) loginGates.set(key, LoginGate.create());
      return new TokenPool(
        {
          ...target,
          workers: options.workers,
          pipelineDepth: options.pipelineDepth,
          keyHandles: options.keyHandles,
          workerKind: options.workerKind ?? 'thread',
          workerNice: options.workerNice ?? DEFAULT_WORKER_NICE,
          reconnectInitialMs: options.reconnectInitialMs ?? 200,
          reconnectMaxMs: options.reconnectMaxMs ?? 5000,
          loginGate: loginGates.get(key)!,
        },
        { results: (pool, results) => this.onResults(pool, results), stateChanged: (pool) => this.onStateChanged(pool) },
      );
    };
    this.tokens = [make(options.primary), ...(options.dr ? [make(options.dr)] : [])];
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Opens the primary (and DR) token. Fails if no token can serve: a wrong PIN is reported after its single attempt.
   */
  static async open(options: SessionPoolOptions): Promise<SessionPool> {
    const pool = new SessionPool(options);
    await Promise.all(pool.tokens.map((t) => t.open()));
    if (!pool.tokens.some((t) => t.state === 'up')) {
      const err = pool.tokens[0]!.lastError;
      await pool.close();
      throw err ? hsmErrorFromWire(err) : new HsmUnavailable('no token could be opened');
    }
    return pool;
  }

  sign(req: SignRequest): Promise<Uint8Array> {
    const priority = req.priority ?? 'normal';
    if (this.closed) return Promise.reject(new HsmUnavailable('the session pool is closed'));
    if (!this.serving()) {
      const err = this.noServiceError();
      this.metrics.rejected(err.kind, priority);
      return Promise.reject(err);
    }
    const now = Date.now();
    const deadline = now + (req.deadlineMs ?? this.options.deadlineMs);
    const id = this.nextId;
    // Small integers stay unboxed (a larger id would be a heap number per operation); ids need only be unique
    // among operations in flight.
    this.nextId = this.nextId >= 0x3fffffff ? 1 : this.nextId + 1;
    return new Promise<Uint8Array>((resolve, reject) => {
      const op: Op = {
        id,
        priority,
        enqueuedAt: performance.now(),
        deadline,
        keyName: req.key.label ?? req.key.id ?? '?',
        wire: { id, key: req.key, spki: req.spki, alg: req.algorithm, data: ownBuffer(req.data), enc: req.encoding ?? 'der', deadline, rank: PRIORITIES.indexOf(priority) },
        resolve,
        reject,
      };
      if (!this.queue.offer(priority, op)) {
        this.metrics.rejected('busy', priority);
        reject(new HsmBusy(`HSM queue for ${priority}-priority operations is full`));
        return;
      }
      this.pump();
    });
  }

  /** The token that takes new work: the primary while it is up, else the DR token, else none. */
  private serving(): TokenPool | undefined {
    // A stall is judged by how long operations have been out. If this thread itself was blocked (the sweep is late,
    // or was late a moment ago), results may be waiting unread in the workers' ports: time only counts from when it
    // was responsive again, so a busy event loop is not taken for a hung HSM (and a spurious failover to the DR).
    const now = Date.now();
    const since = now - this.lastSweepAt > LAG_MS ? now : this.responsiveSince;
    for (const t of this.tokens) if (t.state === 'up' && !t.stalled(this.options.deadlineMs, since)) return t;
    return undefined;
  }

  /**
   * Why nothing can serve, as the error callers get. A refused PIN is 'auth' (operator action needed; retrying
   * cannot help), everything else 'unavailable' (retry later).
   */
  private noServiceError(): HsmError {
    const t = this.tokens[0]!;
    const reason = this.unavailableReason();
    return t.state === 'refused' ? new HsmError('auth', reason, t.lastError?.ckr) : new HsmUnavailable(reason, t.lastError?.ckr);
  }

  private unavailableReason(): string {
    const t = this.tokens[0]!;
    if (t.state === 'refused') return 'the token refused the PIN; operator action needed';
    if (t.state === 'up') return 'the HSM is not answering within the deadline';
    return `HSM token ${t.name} is ${t.state}${t.lastError?.ckr !== undefined ? ` (${ckrName(t.lastError.ckr)})` : ''}`;
  }

  private pump(): void {
    const token = this.serving();
    if (!token) return;
    let free = token.capacity();
    if (free === 0 || this.queue.size() === 0) return;
    const batch: WireOp[] = [];
    const now = performance.now();
    while (free > 0) {
      const op = this.queue.poll();
      if (!op) break;
      if (token !== this.tokens[0] && op.wire.spki === undefined) {
        // The DR token is trusted with a key only when its public key is the one asked for: without an SPKI to
        // check, it could sign with whatever key carries that label there.
        this.metrics.rejected('unavailable', op.priority);
        op.reject(new HsmUnavailable(`${this.unavailableReason()}; the request names no public key, so the ${token.name} token cannot be used`));
        continue;
      }
      op.token = token;
      this.inFlight.set(op);
      this.metrics.queueWait(op.priority, (now - op.enqueuedAt) / 1000);
      batch.push(op.wire);
      free--;
    }
    if (batch.length) token.dispatch(batch);
  }

  private onResults(token: TokenPool, results: WireResult[]): void {
    for (const r of results) {
      const op = this.inFlight.take(r.id);
      if (!op) continue; // already timed out: the caller has its answer
      if (r.sig) {
        this.metrics.operation(token.name, op.keyName, r.ms / 1000, 'ok');
        op.resolve(r.sig);
      } else {
        const err = hsmErrorFromWire(r.err!);
        this.metrics.operation(token.name, op.keyName, r.ms / 1000, err.kind);
        if (err.ckr !== undefined) this.metrics.ckrError(token.name, ckrName(err.ckr));
        op.reject(err);
      }
    }
    this.pump();
  }

  private onStateChanged(token: TokenPool): void {
    if (!this.serving()) this.failQueued();
    this.pump();
    void token;
  }

  /** With no token to serve, waiting helps nobody: answer every queued operation now. */
  private failQueued(): void {
    const err = this.noServiceError();
    for (const op of this.queue.removeWhere(() => true)) {
      this.metrics.rejected(err.kind, op.priority);
      op.reject(err);
    }
  }

  private sweep(): void {
    const now = Date.now();
    if (now - this.lastSweepAt > LAG_MS) this.responsiveSince = now;
    this.lastSweepAt = now;
    for (const op of this.queue.removeWhere((o) => o.deadline <= now)) {
      this.metrics.rejected('timeout', op.priority);
      op.reject(new HsmTimeout('HSM operation deadline exceeded while queued'));
    }
    for (const op of this.inFlight.values()) {
      if (op.deadline > now) continue;
      // The worker may still be inside the call; its late answer is dropped. The caller is not kept waiting.
      this.inFlight.take(op.id);
      this.metrics.rejected('timeout', op.priority);
      op.reject(new HsmTimeout('HSM operation deadline exceeded at the token'));
    }
    if (!this.serving() && this.queue.size()) this.failQueued();
    for (const t of this.tokens) {
      this.metrics.gauges({
        token: t.name,
        up: t.state === 'up',
        busy: t.busyWorkers(),
        sessions: t.workerCount,
        queued: Object.fromEntries(PRIORITIES.map((p) => [p, this.queue.size(p)])) as Record<Priority, number>,
      });
    }
  }

  health(): PoolHealth {
    const serving = this.serving();
    return {
      ready: serving !== undefined,
      serving: serving?.name,
      tokens: this.tokens.map((t) => ({
        name: t.name,
        state: t.state,
        workers: t.workerCount,
        busy: t.busyWorkers(),
        ...(t.lastError && t.state !== 'up' ? { error: t.lastError.message } : {}),
      })),
      queued: Object.fromEntries(PRIORITIES.map((p) => [p, this.queue.size(p)])) as Record<Priority, number>,
      inFlight: this.inFlight.size,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    const err = new HsmUnavailable('the session pool is closed');
    for (const op of this.queue.removeWhere(() => true)) op.reject(err);
    for (const op of this.inFlight.values()) {
      this.inFlight.take(op.id);
      op.reject(err);
    }
    await Promise.all(this.tokens.map((t) => t.close()));
  }
}
