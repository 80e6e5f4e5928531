/**
 * One C_Login at a time for the whole process, and none at all once the PIN has been refused: the token's retry
 * counter must see exactly one wrong attempt, however many workers notice the lost login at the same moment.
 *
 * Worker threads share memory: LoginGate and SharedMutex. Worker processes do not: FileLoginGate, and no object
 * lock at all (see there).
 */
import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const OPEN = 0;
const BUSY = 1;
const REFUSED = 2;

/** What the session worker needs of a login gate, whichever kind. */
export interface Gate {
  run<T>(attempt: () => T, afterOther: () => T, refused: () => T): T;
}

/** What the session worker needs of the object lock, whichever kind. */
export interface ObjectLock {
  run<T>(fn: () => T): T;
}

/**
 * A mutex shared by threads (an Int32 cell in a SharedArrayBuffer). Blocking is fine: callers are worker threads.
 */
export class SharedMutex implements ObjectLock {
  private readonly cell: Int32Array;

  constructor(shared: SharedArrayBuffer) {
    this.cell = new Int32Array(shared);
  }

  static create(): SharedArrayBuffer {
    return new SharedArrayBuffer(4);
  }

  run<T>(fn: () => T): T {
    while (Atomics.compareExchange(this.cell, 0, OPEN, BUSY) !== OPEN) Atomics.wait(this.cell, 0, BUSY, 50);
    try {
      return fn();
    } finally {
      Atomics.store(this.cell, 0, OPEN);
      Atomics.notify(this.cell, 0, 1);
    }
  }
}

export class LoginGate implements Gate {
  private readonly cell: Int32Array;

  constructor(shared: SharedArrayBuffer) {
    this.cell = new Int32Array(shared);
  }

  static create(): SharedArrayBuffer {
    return new SharedArrayBuffer(4);
  }

  get refused(): boolean {
    return Atomics.load(this.cell, 0) === REFUSED;
  }

  /**
   * Runs `attempt` if no other thread is logging in; otherwise waits for that one and runs `afterOther` instead
   * (normally a check that the shared login now holds). Blocking is fine: callers are worker threads.
   */
  run<T>(attempt: () => T, afterOther: () => T, refused: () => T, timeoutMs = 10_000): T {
    for (;;) {
      const prev = Atomics.compareExchange(this.cell, 0, OPEN, BUSY);
      if (prev === REFUSED) return refused();
      if (prev === BUSY) {
        Atomics.wait(this.cell, 0, BUSY, timeoutMs);
        const now = Atomics.load(this.cell, 0);
        if (now === REFUSED) return refused();
        if (now === OPEN) return afterOther();
        continue;
      }
      let outcome: 'open' | 'refused' = 'open';
      try {
        return attempt();
      } catch (e) {
        if ((e as { kind?: string }).kind === 'auth') outcome = 'refused';
        throw e;
      } finally {
        Atomics.store(this.cell, 0, outcome === 'refused' ? REFUSED : OPEN);
        Atomics.notify(this.cell, 0);
      }
    }
  }
}

/**
 * Worker *processes* need no object lock: the SoftHSM2 race it guards (a token-object search seeing another
 * thread's C_CopyObject half-made) is inside one process's module instance, whose session objects no other process
 * can see. Tested by test/hsm/pool-process.test.ts (four processes finding and copying one key at once).
 */
export const NO_LOCK: ObjectLock = { run: (fn) => fn() };

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * The login gate of worker processes. Each process is a PKCS#11 application of its own, with its own login, so
 * "one C_Login for all workers" cannot hold as it does for threads: every process logs in once (with the right PIN
 * that is one attempt per process). What must still hold is that the token sees exactly one *wrong* attempt:
 * - at open, the token pool starts the first process and waits for its login before starting the others (a
 *   refused PIN stops there, as with threads);
 * - later (a lost login, a PIN changed on the token), attempts across processes are serialised by a lock file
 *   created with O_EXCL in a directory private to the token pool; the process whose attempt the token refuses writes
 *   a "refused" marker before releasing the lock, and no process tries again once the marker exists.
 * A lock left by a process that died holding it is broken once its pid is gone. Blocking is fine: callers are
 * worker processes with nothing else to do.
 */
export class FileLoginGate implements Gate {
  private readonly lockPath: string;
  private readonly refusedPath: string;

  constructor(dir: string) {
    this.lockPath = join(dir, 'lock');
    this.refusedPath = join(dir, 'refused');
  }

  get refused(): boolean {
    return existsSync(this.refusedPath);
  }

  /** `afterOther` is never used: another process's login is not this process's login. */
  run<T>(attempt: () => T, _afterOther: () => T, refused: () => T): T {
    while (!this.tryLock()) {
      if (this.refused) return refused();
      this.breakStaleLock();
      Atomics.wait(sleepCell, 0, 0, 2);
    }
    let outcome: 'open' | 'refused' = 'open';
    try {
      if (this.refused) return refused();
      return attempt();
    } catch (e) {
      if ((e as { kind?: string }).kind === 'auth') outcome = 'refused';
      throw e;
    } finally {
      if (outcome === 'refused') writeFileSync(this.refusedPath, String(process.pid));
      unlinkSync(this.lockPath);
    }
  }

  private tryLock(): boolean {
    let fd: number;
    try {
      fd = openSync(this.lockPath, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    try {
      writeSync(fd, String(process.pid));
    } finally {
      closeSync(fd);
    }
    return true;
  }

  private breakStaleLock(): void {
    let pid: number;
    try {
      pid = Number(readFileSync(this.lockPath, 'utf8'));
    } catch {
      return; // released meanwhile
    }
    if (!Number.isInteger(pid) || pid <= 0) return; // being written: its pid follows
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') return;
      try {
        unlinkSync(this.lockPath);
      } catch {
        // another waiter broke it first
      }
    }
  }
}
