/**
 * A session worker: owns its PKCS#11 sessions and runs whole operations (C_SignInit + C_Sign) off the main thread.
 * Measured on SoftHSM2: C_SignInit costs twice C_Sign and pkcs11js runs it on the calling thread, so only whole
 * operations on their own threads use more than one core. Recovery follows ../shared/reference/faults.md.
 * Runs as a worker thread or as a child process (the token pool's workerKind); the same code, only the transport
 * and the login gate differ.
 */
import { isMainThread, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { CKR, ckrOf, recoveryFor } from './ckr.ts';
import { HsmError, HsmTimeout, HsmUnavailable } from './errors.ts';
import { findOne, readPublicKey, type KeySelector } from './key-objects.ts';
import type { KeyType } from './key-spec.ts';
import { FileLoginGate, LoginGate, NO_LOCK, SharedMutex, type Gate, type ObjectLock } from './login-gate.ts';
import type { FromWorker, ToWorker, WireError, WireOp, WireResult, WorkerInit } from './pool-protocol.ts';
import { WorkerQueue } from './worker-queue.ts';
import { decodeToProcess, encodeFromWorker, type PipeToProcess } from './process-codec.ts';
import { spkiSha256 } from './public-key.ts';
import { signOnSession } from './sign-operation.ts';
import { closeQuietly, findSlot, initialize, isLoggedIn, loadModule, login, openSession, pkcs11js, toHsmError, type Handle, type Pkcs11 } from './token.ts';
import { niceThisThread } from './worker-priority.ts';

interface ResolvedKey {
  tokenHandle: Handle;
  keyType: KeyType;
  spkiSha256: string;
  /** Per-session copies (CKA_TOKEN=false) of the key, when keyHandles is 'session-copy'. */
  copies: Map<number, Handle>;
}

interface Session {
  index: number;
  handle: Handle | undefined;
  out: Buffer;
  /** The token said "not logged in" (0x101): log in once more even if the session state claims otherwise. */
  forceLogin: boolean;
  /**
   * The login state was checked since the session opened or last failed. Checking costs a C_GetSessionInfo per
   * signature otherwise; a lost login shows up as an error from C_SignInit, and every recovery clears this.
   */
  checked: boolean;
}

class SessionHost {
  private readonly p: Pkcs11;
  private slot: Handle;
  /** One session per worker: a network HSM, where waiting dominates, gets more workers rather than async calls. */
  private readonly sessions: Session[] = [];
  private readonly keys = new Map<string, ResolvedKey>();
  private readonly gate: Gate;
  private readonly objectLock: ObjectLock;
  private down = false;
  private refused = false;
  private readonly queue = new WorkerQueue();
  private readonly pending: WireResult[] = [];
  private running = false;
  /** Told to close: no module call from here on, whatever else arrives. */
  private closed = false;

  constructor(
    private readonly init: WorkerInit,
    private readonly send: (m: FromWorker) => void,
    /**
     * Threads: takes a message that arrived while the worker was busy, without yielding. Processes have no such
     * receive on a pipe (undefined): what arrives during a run waits for the next event-loop turn. (Deferring runs
     * to the end of the turn, to answer every message of one pipe read in one run, made no measurable difference
     * to CPU per signature: 130-136 µs without, 132-145 µs with, on a loaded machine.)
     */
    private readonly poll: (() => ToWorker | undefined) | undefined,
    /** Ends the worker from inside once it has closed (threads: closes its port, and the thread runs out of work). */
    private readonly leave: () => void,
  ) {
    if (init.sync.kind === 'threads') {
      this.gate = new LoginGate(init.sync.loginGate);
      this.objectLock = new SharedMutex(init.sync.objectLock);
    } else {
      this.gate = new FileLoginGate(init.sync.loginDir);
      this.objectLock = NO_LOCK;
    }
    this.p = loadModule(init.module);
    this.slot = findSlot(this.p, init.token);
    for (let i = 0; i < 1; i++) this.sessions.push({ index: i, handle: undefined, out: Buffer.alloc(1024), forceLogin: false, checked: false });
    try {
      for (const s of this.sessions) this.ensureSession(s);
    } catch (e) {
      // A session outlives its worker (the module is process-wide): close it, or a refused or failed start leaks it.
      for (const s of this.sessions) this.dropSession(s);
      throw e;
    }
  }

  // ---- sessions and login ----

  private ensureSession(s: Session): Handle {
    if (s.handle === undefined) {
      s.handle = openSession(this.p, this.slot);
      s.checked = false;
      for (const k of this.keys.values()) k.copies.delete(s.index);
    }
    if (s.checked && !s.forceLogin) return s.handle;
    s.checked = true;
    if (s.forceLogin || !isLoggedIn(this.p, s.handle)) {
      const session = s.handle;
      this.login(session, s.forceLogin);
      s.forceLogin = false;
      // The token was logged out: every private object handle found before is void now, even after this login
      // (SoftHSM2 answers 0x82 for them). Find the keys again rather than spend the one retry on a stale handle.
      this.keys.clear();
    }
    return s.handle;
  }

  private login(session: Handle, force: boolean): void {
    this.gate.run(
      // Another worker may have logged in between our check and taking the gate: one C_Login per lost login.
      () => {
        if (force || !isLoggedIn(this.p, session)) login(this.p, session, this.init.pin);
      },
      () => {
        if (!isLoggedIn(this.p, session)) throw new HsmUnavailable('login by another session did not hold');
      },
      () => {
        throw new HsmError('auth', 'the token refused the PIN earlier; not retrying');
      },
    );
  }

  private dropSession(s: Session): void {
    closeQuietly(this.p, s.handle);
    s.handle = undefined;
  }

  // ---- keys ----

  private keyFor(sel: KeySelector, spki: string | undefined, s: Session, session: Handle): { handle: Handle; keyType: KeyType } {
    const name = `${sel.label ?? ''}\u0000${sel.id ?? ''}`;
    let k = this.keys.get(name);
    if (!k) {
      // Lookups and copies hold the process-wide object lock: SoftHSM2 2.6.1 lets a token-object search see another
      // thread's C_CopyObject half-made (CKA_TOKEN still true), and the lookup then finds "2 private keys".
      const found = this.objectLock.run(() => {
        const tokenHandle = findOne(this.p, session, pkcs11js.CKO_PRIVATE_KEY, sel);
        return { tokenHandle, pub: readPublicKey(this.p, session, findOne(this.p, session, pkcs11js.CKO_PUBLIC_KEY, sel)) };
      });
      k = { tokenHandle: found.tokenHandle, keyType: found.pub.keyType, spkiSha256: spkiSha256(found.pub.spki), copies: new Map() };
      this.keys.set(name, k);
    }
    // A DR token or a re-provisioned token may hold another key under the same name: the public key decides.
    if (spki !== undefined && k.spkiSha256 !== spki) throw new HsmError('key-mismatch', 'the token key does not have the expected public key');
    if (this.init.keyHandles === 'token') return { handle: k.tokenHandle, keyType: k.keyType };
    let copy = k.copies.get(s.index);
    if (copy === undefined) {
      try {
        // A session object copy stays inside the token and keeps CKA_SENSITIVE / non-extractable; SoftHSM2 serialises
        // threads on each token object's file, not on session objects (measurements: ~11k/s → ~17k/s on two threads).
        const source = k.tokenHandle;
        copy = this.objectLock.run(() => this.p.C_CopyObject(session, source, [{ type: pkcs11js.CKA_TOKEN, value: false }]));
      } catch {
        copy = k.tokenHandle; // CKA_COPYABLE false or the token forbids it: sign with the token object
      }
      k.copies.set(s.index, copy);
    }
    return { handle: copy, keyType: k.keyType };
  }

  // ---- operations ----

  /** One operation with the recovery rules: at most one retry, never for credentials or a token that is down. */
  private execute(op: WireOp, s: Session): Uint8Array {
    for (let attempt = 0; ; attempt++) {
      try {
        const session = this.ensureSession(s);
        const key = this.keyFor(op.key, op.spki, s, session);
        return signOnSession(this.p, session, key.handle, key.keyType, op.alg, op.data, op.enc, s.out);
      } catch (e) {
        if (e instanceof HsmError && e.kind === 'auth') throw this.markRefused(e);
        // Private keys are invisible without a login: a key not found may be a login lost since the last check.
        if (e instanceof HsmError && e.kind === 'key-not-found' && attempt === 0 && s.checked) {
          s.checked = false;
          continue;
        }
        if (e instanceof HsmError && e.ckr === undefined) throw e;
        const code = e instanceof HsmError ? e.ckr : ckrOf(e);
        if (code === undefined) throw toHsmError(e, 'sign');
        const recovery = recoveryFor(code);
        if (recovery === 'token-down') throw this.markDown(toHsmError(e, 'sign'));
        if (recovery === 'credentials') throw this.markRefused(toHsmError(e, 'sign'));
        if (attempt >= 1 || recovery === 'fail') {
          // A session the token called gone stays gone: the next operation must not inherit it.
          if (recovery === 'reopen-session') this.dropSession(s);
          throw toHsmError(e, 'sign');
        }
        this.recover(recovery, s);
      }
    }
  }

  private recover(recovery: ReturnType<typeof recoveryFor>, s: Session): void {
    s.checked = false;
    switch (recovery) {
      case 'reopen-session':
        this.dropSession(s);
        break;
      case 'relogin':
        // The token says the login is gone: log in once more (ensureSession), whatever the session state reports,
        // and find the keys again, since a real logout voids their handles.
        s.forceLogin = true;
        this.keys.clear();
        break;
      case 'refind-key':
        // After a logout, private handles (and session copies) are void: find again, logging in first if needed.
        this.keys.clear();
        break;
      case 'reinitialize':
        initialize(this.p);
        for (const x of this.sessions) x.handle = undefined;
        this.keys.clear();
        this.slot = findSlot(this.p, this.init.token);
        break;
      default:
        break;
    }
  }

  private markDown(err: HsmError): HsmError {
    if (!this.down) {
      this.down = true;
      this.send({ t: 'state', up: false, err: wire(err) });
    }
    return new HsmUnavailable(err.message, err.ckr);
  }

  /** A refused PIN is never retried: the login gate stays shut, and the token pool is told to stop ('refused'). */
  private markRefused(err: HsmError): HsmError {
    if (!this.refused) {
      this.refused = true;
      this.send({ t: 'state', up: false, err: wire(err) });
    }
    return err;
  }

  /** Reconnect attempt while down: a fresh slot lookup, sessions and login, then a cheap call on each session. */
  probe(): void {
    try {
      for (const s of this.sessions) this.dropSession(s);
      this.keys.clear();
      try {
        this.slot = findSlot(this.p, this.init.token);
      } catch (e) {
        if (ckrOf(e) === CKR.CRYPTOKI_NOT_INITIALIZED || (e as HsmError).ckr === CKR.CRYPTOKI_NOT_INITIALIZED) {
          initialize(this.p);
          this.slot = findSlot(this.p, this.init.token);
        } else throw e;
      }
      for (const s of this.sessions) {
        const h = this.ensureSession(s);
        this.p.C_GetSessionInfo(h);
      }
      this.down = false;
      this.send({ t: 'state', up: true });
    } catch (e) {
      this.down = true;
      this.send({ t: 'state', up: false, err: wire(toHsmError(e, 'probe')) });
    }
  }

  enqueue(ops: WireOp[]): void {
    for (const op of ops) this.queue.push(op);
    this.runSync();
  }

  /**
   * Closes the sessions, answers what is still queued, and lets the worker end by itself (`leave`) once it is out of
   * the module: a thread torn down from outside while it runs pkcs11js calls can crash the whole process (SIGSEGV in
   * a N-API callback, seen when a pool closed under load), so the pool waits for this rather than terminating.
   */
  private close(): void {
    this.closed = true;
    this.refuse(this.queue.takeAll());
    for (const s of this.sessions) this.dropSession(s);
    this.send({ t: 'closed' });
    // Inside a run (the message came through drainPort) the run stops at its next step and leaves from there.
    if (!this.running) this.leave();
  }

  /** Answers operations that came too late (the worker is closing) as unavailable, without touching the module. */
  private refuse(ops: WireOp[]): void {
    for (const op of ops) this.pending.push({ id: op.id, err: wire(new HsmUnavailable('the pool is closing')), ms: 0 });
    this.flush();
  }

  private result(op: WireOp, started: number, fn: () => Uint8Array): WireResult {
    if (Date.now() > op.deadline) return { id: op.id, err: wire(new HsmTimeout('deadline passed before the operation reached the token')), ms: 0 };
    if (this.down) return { id: op.id, err: wire(new HsmUnavailable('token is down')), ms: 0 };
    try {
      const sig = fn();
      return { id: op.id, sig, ms: performance.now() - started };
    } catch (e) {
      return { id: op.id, err: wire(toHsmError(e, 'sign')), ms: performance.now() - started };
    }
  }

  /** One session: a tight synchronous loop that picks up newly arrived work without yielding to the event loop. */
  private runSync(): void {
    if (this.running) return;
    this.running = true;
    const s = this.sessions[0]!;
    try {
      for (;;) {
        const op = this.queue.shift();
        if (!op) break;
        this.pending.push(this.result(op, performance.now(), () => this.execute(op, s)));
        if (this.pending.length >= this.init.flushEvery) this.flush();
        this.drainPort();
        if (this.closed) break;
      }
    } finally {
      this.running = false;
      this.flush();
      if (this.closed) this.leave();
    }
  }

  private drainPort(): void {
    if (!this.poll) return;
    for (;;) {
      const m = this.poll();
      if (!m) return;
      this.handle(m, false);
    }
  }

  flush(): void {
    if (this.pending.length === 0) return;
    this.send({ t: 'results', results: this.pending.splice(0) });
  }

  handle(m: ToWorker, run = true): void {
    switch (m.t) {
      case 'ops':
        if (this.closed) this.refuse(m.ops);
        else if (run) this.enqueue(m.ops);
        else for (const op of m.ops) this.queue.push(op);
        break;
      case 'probe':
        if (!this.closed) this.probe();
        break;
      case 'close':
        if (!this.closed) this.close();
        break;
    }
  }
}

function wire(e: HsmError): WireError {
  return { kind: e.kind, message: e.message, ...(e.ckr !== undefined ? { ckr: e.ckr } : {}) };
}

/** Opens the sessions (logging in), then serves; or says why it cannot. */
function start(
  init: WorkerInit,
  send: (m: FromWorker) => void,
  poll: (() => ToWorker | undefined) | undefined,
  leave: () => void,
  listen: (host: SessionHost) => void,
): void {
  niceThisThread(init.nice);
  try {
    const host = new SessionHost(init, send, poll, leave);
    listen(host);
    send({ t: 'ready' });
  } catch (e) {
    send({ t: 'init-failed', err: wire(toHsmError(e, 'open')) });
  }
}

if (!isMainThread) {
  const port = parentPort!;
  start(
    workerData as WorkerInit,
    (m) => port.postMessage(m),
    () => receiveMessageOnPort(port)?.message as ToWorker | undefined,
    () => port.close(),
    (host) => port.on('message', (m: ToWorker) => host.handle(m)),
  );
} else {
  // A child process (process-channel.ts). It must not outlive the pool: when the IPC channel closes (the parent
  // exited, crashed or closed it), so does this process. Messages that arrive during a run of operations wait for
  // the next event-loop turn (there is no synchronous receive on a pipe); each run is at most a pipeline's depth.
  process.on('disconnect', () => process.exit(0));
  const send = (m: FromWorker) => {
    // A worker that could not start has nothing to serve: it leaves once the answer is out, as a thread would.
    if (!process.connected) return;
    if (m.t === 'init-failed') process.send!(m, () => process.disconnect());
    else process.send!(encodeFromWorker(m));
  };
  process.once('message', (first: PipeToProcess) => {
    if (first.t !== 'init') {
      process.exit(1);
      return;
    }
    process.title = first.title;
    // The parent closes the channel once it has the 'closed' answer, and the process then exits (above).
    start(first.init, send, undefined, () => {}, (host) => process.on('message', (m: PipeToProcess) => host.handle(decodeToProcess(m) as ToWorker)));
  });
}
