/**
 * The session workers of one token, and that token's health: up, down (reconnecting with backoff) or refused
 * (wrong or locked PIN: nothing is retried). It dispatches what the session pool hands it; queueing, priorities
 * and deadlines belong to the session pool.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmError, HsmUnavailable } from './errors.ts';
import { SharedMutex } from './login-gate.ts';
import { OutstandingOps } from './outstanding-ops.ts';
import type { FromWorker, KeyHandleMode, ToWorker, WireError, WireOp, WireResult, WorkerInit, WorkerSync } from './pool-protocol.ts';
import { openProcessChannel } from './process-channel.ts';
import { openThreadChannel } from './thread-channel.ts';
import type { TokenSelector } from './token.ts';
import type { WorkerChannel, WorkerKind } from './worker-channel.ts';

export type TokenState = 'starting' | 'up' | 'down' | 'refused' | 'closed';

/**
 * A worker sends its results back in batches of at most this many (half its pipeline when that is shallower). The
 * batch stays this size however deep the pipeline: depth is how long a worker can go on signing while the thread
 * that feeds it is busy elsewhere (answering a group commit's worth of callers, a scavenge), and larger batches
 * would only make the bursts that thread receives larger.
 */
const RESULT_BATCH = 8;

export interface TokenTarget {
  /** Shown in health and metrics: "primary", "dr". */
  name: string;
  module: string;
  token: TokenSelector;
  pin: string;
}

export interface TokenPoolOptions extends TokenTarget {
  workers: number;
  pipelineDepth: number;
  keyHandles: KeyHandleMode;
  /** Session workers as threads of this process (default) or as child processes. */
  workerKind?: WorkerKind;
  /** Nice value of each worker (worker-priority.ts). */
  workerNice: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  loginGate: SharedArrayBuffer;
}

export interface TokenPoolEvents {
  results(pool: TokenPool, results: WireResult[]): void;
  stateChanged(pool: TokenPool, error?: WireError): void;
}

class WorkerSlot {
  readonly outstanding: OutstandingOps;
  up = false;
  alive = true;
  closing?: () => void;
  /** Operations dispatched this event-loop turn, posted together at its end. */
  unposted: WireOp[] | undefined;
  constructor(
    readonly index: number,
    readonly channel: WorkerChannel,
    pipelineDepth: number,
  ) {
    this.outstanding = new OutstandingOps(pipelineDepth);
  }
}

/** One for the whole process: every pool's workers serialise key lookups and session copies on it. */
const OBJECT_LOCK = SharedMutex.create();

export function hsmErrorFromWire(e: WireError): HsmError {
  return e.kind === 'unavailable' ? new HsmUnavailable(e.message, e.ckr) : new HsmError(e.kind, e.message, e.ckr);
}

export class TokenPool {
  state: TokenState = 'starting';
  lastError: WireError | undefined;
  private readonly slots: WorkerSlot[] = [];
  private reconnectDelay: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Slots whose worker is being started again, so a crash and a reconnect round never start two. */
  private readonly respawning = new Set<number>();
  /** Worker processes: the directory of their login gate (login-gate.ts, FileLoginGate), made at the first start. */
  private loginDir: string | undefined;

  constructor(
    readonly options: TokenPoolOptions,
    private readonly events: TokenPoolEvents,
  ) {
    this.reconnectDelay = options.reconnectInitialMs;
  }

  get name(): string {
    return this.options.name;
  }

  /** Starts one worker and waits for its login before the others, so a wrong PIN costs exactly one attempt. */
  async open(): Promise<void> {
    const first = await this.spawn(0);
    if (first.err) {
      this.fail(first.err);
      return;
    }
    const others = Array.from({ length: this.options.workers - 1 }, (_, i) => i + 1);
    // Worker processes start one after another. Each loads the token and logs in itself, and SoftHSM2 rewrites
    // token.object on every C_Login: a process loading the token at that moment can miss it (seen in bench:hsm).
    const rest: { err?: WireError }[] = [];
    if (this.options.workerKind === 'process') for (const i of others) rest.push(await this.spawn(i));
    else rest.push(...(await Promise.all(others.map((i) => this.spawn(i)))));
    const err = rest.find((r) => r.err)?.err;
    if (err && !this.slots.some((s) => s.up)) this.fail(err);
    else this.setState('up');
  }

  private fail(err: WireError): void {
    this.lastError = err;
    if (err.kind === 'auth') this.setState('refused', err);
    else {
      this.setState('down', err);
      this.scheduleReconnect();
    }
  }

  private spawn(index: number): Promise<{ err?: WireError }> {
    const init: WorkerInit = {
      index,
      module: this.options.module,
      token: this.options.token,
      pin: this.options.pin,
      keyHandles: this.options.keyHandles,
      flushEvery: Math.max(1, Math.min(RESULT_BATCH, Math.floor(this.options.pipelineDepth / 2))),
      nice: this.options.workerNice,
      sync: this.workerSync(),
    };
    const open = this.options.workerKind === 'process' ? openProcessChannel : openThreadChannel;
    return new Promise((resolve) => {
      let started = false;
      const channel = open(init, `hsm-${this.name}-${index}`, {
        message: (m: FromWorker) => {
          if (!started && (m.t === 'ready' || m.t === 'init-failed')) {
            started = true;
            slot.up = m.t === 'ready';
            // A worker that could not start only has to exit: count it gone now, so it is started again.
            if (m.t === 'init-failed') slot.alive = false;
            resolve(m.t === 'ready' ? {} : { err: m.err });
            return;
          }
          this.onMessage(slot, m);
        },
        error: (e) => {
          if (!started) {
            started = true;
            slot.alive = false;
            resolve({ err: { kind: 'device', message: `session worker failed to start: ${e.message}` } });
          }
        },
        exit: () => {
          // Gone before it said whether it started (killed, crashed while loading): a failed start.
          if (!started) {
            started = true;
            resolve({ err: { kind: 'device', message: 'session worker exited while starting' } });
          }
          this.onExit(slot);
        },
      });
      const slot = new WorkerSlot(index, channel, this.options.pipelineDepth);
      this.slots[index] = slot;
    });
  }

  /**
   * Threads share this process's PKCS#11 application: one login gate per token (from the session pool) and one
   * object lock for the process. Processes get a file-based login gate private to this token pool and need no
   * object lock (login-gate.ts says why).
   */
  private workerSync(): WorkerSync {
    if (this.options.workerKind !== 'process') return { kind: 'threads', loginGate: this.options.loginGate, objectLock: OBJECT_LOCK };
    this.loginDir ??= mkdtempSync(join(tmpdir(), 'strongroom-login-'));
    return { kind: 'processes', loginDir: this.loginDir };
  }

  private onMessage(slot: WorkerSlot, m: FromWorker): void {
    switch (m.t) {
      case 'results':
        for (const r of m.results) slot.outstanding.remove(r.id);
        this.events.results(this, m.results);
        break;
      case 'state':
        slot.up = m.up;
        if (m.up) {
          this.reconnectDelay = this.options.reconnectInitialMs;
          if (this.state === 'down') this.setState('up');
        } else if (m.err?.kind === 'auth') {
          this.fail(m.err);
        } else if (this.state === 'up' || this.state === 'starting') {
          // One worker seeing the device fail means the token is suspect: stop dispatching to all, probe all.
          for (const s of this.slots) if (s) s.up = false;
          this.lastError = m.err;
          this.setState('down', m.err);
          this.scheduleReconnect();
        }
        break;
      case 'closed':
        slot.closing?.();
        break;
      default:
        break;
    }
  }

  /** A worker that dies takes its operations with it: they fail (never silently vanish) and it is replaced. */
  private onExit(slot: WorkerSlot): void {
    slot.alive = false;
    slot.up = false;
    slot.closing?.();
    if (slot.outstanding.size) {
      const err: WireError = { kind: 'unavailable', message: 'session worker exited' };
      const results = slot.outstanding.drain().map((id) => ({ id, err, ms: 0 }));
      this.events.results(this, results);
    }
    // Only a token in service replaces a lost worker at once. A token that is down gets its missing workers back
    // from the reconnect rounds (with their backoff); a refused one is never tried again.
    const serving = () => this.state === 'up' || this.state === 'starting';
    if (!serving() || this.slots[slot.index] !== slot) return;
    setTimeout(() => {
      if (serving()) this.respawn(slot.index);
    }, this.options.reconnectInitialMs).unref();
  }

  /** Starts the worker of slot `index` again, unless it is alive or already being started. */
  private respawn(index: number): void {
    if (this.respawning.has(index) || this.slots[index]?.alive) return;
    this.respawning.add(index);
    void this.spawn(index).then((r) => {
      this.respawning.delete(index);
      if (r.err) this.fail(r.err);
      else if (this.state === 'down') this.setState('up');
    });
  }

  private setState(state: TokenState, err?: WireError): void {
    if (this.state === state || this.state === 'closed') return;
    this.state = state;
    // Back in service: any worker that is missing (never started, or exited while the token was down) starts now.
    if (state === 'up') for (let i = 0; i < this.options.workers; i++) this.respawn(i);
    this.events.stateChanged(this, err);
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.state !== 'down') return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.options.reconnectMaxMs);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state !== 'down') return;
      // Live workers probe their sessions; workers that never started (the token was down at open) or have
      // exited are started again, so the token comes back with every worker it was configured with.
      for (let i = 0; i < this.options.workers; i++) {
        const s = this.slots[i];
        if (s?.alive) this.post(s, { t: 'probe' });
        else this.respawn(i);
      }
      // If no worker answers "up" before the next tick, probe again later.
      this.scheduleReconnect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private post(slot: WorkerSlot, m: ToWorker): void {
    slot.channel.post(m);
  }

  /** Free pipeline slots across healthy workers. */
  capacity(): number {
    if (this.state !== 'up') return 0;
    let free = 0;
    for (const s of this.slots) if (s?.up && s.alive) free += Math.max(0, this.options.pipelineDepth - s.outstanding.size);
    return free;
  }

  /** Hands operations to the least-loaded healthy workers, one message per worker. */
  dispatch(ops: WireOp[]): void {
    const now = Date.now();
    for (const op of ops) {
      let best: WorkerSlot | undefined;
      for (const s of this.slots) {
        if (!s?.up || !s.alive || s.outstanding.size >= this.options.pipelineDepth) continue;
        if (!best || s.outstanding.size < best.outstanding.size) best = s;
      }
      if (!best) throw new Error('dispatch beyond capacity');
      best.outstanding.add(op.id, now);
      // Posted at the end of this event-loop turn: requests that arrive one per I/O callback (OCSP over HTTP) then
      // share one message per worker instead of paying a structured clone and a worker wake-up each.
      (best.unposted ??= []).push(op);
    }
    if (!this.postScheduled) {
      this.postScheduled = true;
      setImmediate(() => this.postUnposted());
    }
  }

  private postScheduled = false;

  private postUnposted(): void {
    this.postScheduled = false;
    for (const slot of this.slots) {
      const ops = slot?.unposted;
      if (!ops) continue;
      // On the slot, not in a Map cleared every turn: each clear() left V8's retired table holding the batches.
      slot.unposted = undefined;
      // A worker that died meanwhile never gets them; its outstanding operations are answered like any it lost.
      if (slot.alive) this.post(slot, { t: 'ops', ops });
    }
  }

  /** Operations at the token right now (each worker holds one session, so this never exceeds the worker count). */
  busyWorkers(): number {
    return this.slots.filter((s) => s?.outstanding.size).length;
  }

  get workerCount(): number {
    return this.slots.filter((s) => s?.alive).length;
  }

  /**
   * True when every live worker has held an operation longer than `ms`: the token is hung, fail fast. Time counts
   * from `since` at the earliest (when the caller's thread was last responsive).
   */
  stalled(ms: number, since = 0): boolean {
    const now = Date.now();
    let live = 0;
    for (const s of this.slots) {
      if (!s?.alive || !s.up) continue;
      live++;
      // This runs on every signature: the oldest entry alone, not the whole pipeline (a wall clock set back delays
      // the verdict).
      const oldest = s.outstanding.oldestAt();
      if (oldest === undefined || now - Math.max(oldest, since) <= ms) return false;
    }
    return live > 0;
  }

  async close(): Promise<void> {
    clearTimeout(this.reconnectTimer);
    this.state = 'closed';
    await Promise.all(
      this.slots.map(async (s) => {
        if (!s?.alive) return;
        // The worker closes its sessions and then ends by itself: one torn down while it is inside the module can
        // crash the process.
        await new Promise<void>((resolve) => {
          s.closing = resolve;
          this.post(s, { t: 'close' });
          setTimeout(resolve, 1000).unref();
        });
        await s.channel.terminate();
      }),
    );
    if (this.loginDir) rmSync(this.loginDir, { recursive: true, force: true });
  }
}
