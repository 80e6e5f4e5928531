/**
 * One C_Login at a time for the whole process, and none at all once the PIN has been refused: the token's retry
 * counter must see exactly one wrong attempt, however many workers notice the lost login at the same moment.
 */
const OPEN = 0;
const BUSY = 1;
const REFUSED = 2;

/**
 * A mutex shared by threads (an Int32 cell in a SharedArrayBuffer). Blocking is fine: callers are worker threads.
 */
export class SharedMutex {
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

export class LoginGate {
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
