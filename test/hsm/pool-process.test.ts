// The session pool with worker *processes* (workerKind 'process'): the key behaviours of pool.test.ts, login.test.ts
// and pool-faults.test.ts again, plus what only processes have — the PIN kept out of their argv and environment,
// replacement of a killed process, death with the parent, and the login gate and object lock that shared memory
// cannot provide across processes.
//
// The fault shim counts per process (each worker process loads its own copy and writes the same statistics file),
// so counts that must add up over several processes give each process its own statistics file (statsPerProcess).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hsmConfigSchema } from '../../hsm/hsm-config.ts';
import type { GeneratedKey } from '../../hsm/keygen.ts';
import type { Priority } from '../../hsm/priority-queue.ts';
import type { SessionPool, SessionPoolOptions } from '../../hsm/session-pool.ts';
import type { FaultControl } from '../fault/fault-control.ts';
import { createTestToken, type TestToken } from '../support/token.ts';
import {
  closeAllPools,
  expectKind,
  freshFaults,
  generateKey,
  openPool,
  outcome,
  poolOptions,
  processAlive,
  REAL_MODULE,
  recordChildProcesses,
  request,
  setUpShim,
  sleep,
  target,
  track,
  verifies,
  waitFor,
  type Tracked,
} from './pool-support.ts';

const ROUNDS = Number(process.env.POOL_LOOKUP_ROUNDS ?? 150);
const WRONG_PIN = 'wrong-pin-77120';
const ROOT = join(import.meta.dirname, '../..');

let shim: string;
let fc: FaultControl;
let token: TestToken;
let ec: GeneratedKey;

beforeAll(() => {
  ({ shim, fc } = setUpShim());
  token = createTestToken('poolproc');
  ec = generateKey(token, 'poolproc-ec');
});

afterEach(async () => {
  await closeAllPools();
  fc.clear();
});

afterAll(async () => {
  await closeAllPools();
});

function processOptions(module: string, overrides: Partial<SessionPoolOptions> = {}, pin = token.pin): SessionPoolOptions {
  return poolOptions({ ...target(token, module), pin }, { workerKind: 'process', ...overrides });
}

/** Opens a process pool and returns it with the worker processes it started. */
async function openProcessPool(module: string, overrides: Partial<SessionPoolOptions> = {}): Promise<{ pool: SessionPool; pids: number[] }> {
  const rec = recordChildProcesses();
  try {
    const pool = await openPool(processOptions(module, overrides));
    return { pool, pids: rec.children.map((c) => c.pid!) };
  } finally {
    rec.stop();
  }
}

async function signsOk(pool: SessionPool, n: number): Promise<void> {
  const inputs = Array.from({ length: n }, () => randomBytes(24));
  const sigs = await Promise.all(inputs.map((d) => pool.sign(request(ec, d))));
  for (let i = 0; i < n; i++) expect(verifies(ec.spki, inputs[i]!, sigs[i]!)).toBe(true);
}

/**
 * Each worker process started while `opening` runs gets a statistics file of its own: the environment a process
 * inherits is read when it is forked, and the pool forks its first worker synchronously inside open().
 */
function statsPerProcess(): { next(): string; sum(key: string): number; files: string[] } {
  const dir = mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), 'proc-stats-'));
  const files: string[] = [];
  const read = (f: string): Record<string, number> => {
    try {
      return Object.fromEntries(
        readFileSync(f, 'utf8')
          .split('\n')
          .map((l) => /^([A-Za-z0-9_.]+)=(-?\d+)$/.exec(l.trim()))
          .filter((m) => m !== null)
          .map((m) => [m[1]!, Number(m[2])]),
      );
    } catch {
      return {};
    }
  };
  return {
    files,
    next() {
      const f = join(dir, `stats-${files.length}`);
      files.push(f);
      process.env.STRONGROOM_FAULT_STATS = f;
      return f;
    },
    sum: (key) => files.reduce((n, f) => n + (read(f)[key] ?? 0), 0),
  };
}

describe('worker processes: configuration', () => {
  it('pool.workerKind in the HSM config: thread by default, process on request, nothing else', () => {
    expect(hsmConfigSchema.parse({ token: { label: 'x' } }).pool.workerKind).toBe('thread');
    expect(hsmConfigSchema.parse({ token: { label: 'x' }, pool: { workerKind: 'process' } }).pool.workerKind).toBe('process');
    expect(() => hsmConfigSchema.parse({ token: { label: 'x' }, pool: { workerKind: 'fork' } })).toThrow();
  });
});

describe('worker processes: signing at volume', () => {
  it('2,000 concurrent ECDSA signatures all resolve and all verify; the workers are child processes', async () => {
    const { pool, pids } = await openProcessPool(REAL_MODULE, { workers: 2, pipelineDepth: 8, queueLimit: 5000 });
    expect(pids).toHaveLength(2);
    for (const pid of pids) {
      expect(processAlive(pid)).toBe(true);
      // The worker names itself (process.title): ps shows which pool and token a process serves.
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toMatch(/^strongroom hsm-primary-[01]/);
    }
    const inputs = Array.from({ length: 2000 }, (_, i) => randomBytes(16 + (i % 64)));
    const sigs = await Promise.all(inputs.map((data, i) => pool.sign(request(ec, data, { encoding: i % 2 ? 'raw' : 'der' }))));
    expect(sigs).toHaveLength(2000);
    let bad = 0;
    for (let i = 0; i < sigs.length; i++) if (!verifies(ec.spki, inputs[i]!, sigs[i]!, { raw: i % 2 === 1 })) bad++;
    expect(bad).toBe(0);
    expect(verifies(ec.spki, inputs[1]!, sigs[0]!)).toBe(false);
    await pool.close();
    await waitFor(() => pids.every((pid) => !processAlive(pid)), 3000, 'worker processes gone after close()');
  });

  it('four processes finding and copying one key at the same moment, again and again: every lookup finds exactly one key, with no cross-process lock', async () => {
    // The race the threads' object lock guards (a search seeing another thread's half-made C_CopyObject) lives in
    // one process's SoftHSM2 instance; session objects are invisible to other processes. Each round below answers
    // the next C_SignInit of every process with 0x82 (the shim counts per process), so the four processes drop their
    // handles, look the key up and copy it at once; the retry must then sign.
    const faults = (fc = freshFaults());
    const { pool } = await openProcessPool(shim, { workers: 4, pipelineDepth: 1 });
    const failures: string[] = [];
    let signed = 0;
    await Promise.all(Array.from({ length: 8 }, () => pool.sign(request(ec, randomBytes(8)))));
    for (let round = 0; round < ROUNDS; round++) {
      faults.inject('C_SignInit rv=0x82 1');
      const jobs = Array.from({ length: 4 }, () => {
        const data = randomBytes(20);
        return { data, t: track(pool.sign(request(ec, data))) };
      });
      await Promise.all(jobs.map((j) => j.t.promise));
      for (const j of jobs) {
        if (j.t.sig) {
          expect(verifies(ec.spki, j.data, j.t.sig)).toBe(true);
          signed++;
        } else failures.push(`${j.t.error!.kind}: ${j.t.error!.message}`);
      }
    }
    expect(failures).toEqual([]);
    expect(signed).toBe(ROUNDS * 4);
    // Every process met the fault in every round: the lookups really ran ROUNDS times, in each process.
    expect(faults.stats().faults).toBe(ROUNDS);
  });
});

describe('worker processes: concurrency and load shedding', () => {
  it('never has more operations at the token than sessions (2 processes, pipelined 4 deep): 40 × 25 ms C_Sign take ≥ 20 × 25 ms', async () => {
    const faults = (fc = freshFaults());
    const { pool } = await openProcessPool(shim, { workers: 2, pipelineDepth: 4 });
    await signsOk(pool, 8); // keys found and copied in both processes
    faults.inject('C_Sign delay=25');
    const start = performance.now();
    const sigs = await Promise.all(Array.from({ length: 40 }, () => pool.sign(request(ec, randomBytes(32)))));
    const ms = performance.now() - start;
    expect(sigs).toHaveLength(40);
    // 1,000 ms of C_Sign: at most two at a time → at least 500 ms; the two processes did overlap → well under 1,000.
    expect(ms).toBeGreaterThanOrEqual(495);
    expect(ms).toBeLessThan(950);
    // Within each process, one at a time (each process writes its own maximum to the shared statistics file).
    expect(faults.stats().max_concurrent_sign).toBe(1);
  });

  it('rejects beyond capacity + queueLimit at once with kind busy; the accepted ones succeed', async () => {
    const faults = (fc = freshFaults());
    const { pool } = await openProcessPool(shim, { workers: 1, pipelineDepth: 2, queueLimit: 5 });
    faults.inject('C_Sign delay=30');
    const normal = Array.from({ length: 20 }, () => track(pool.sign(request(ec, randomBytes(8)))));
    const high = Array.from({ length: 6 }, () => track(pool.sign(request(ec, randomBytes(8), { priority: 'high' }))));
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    const busyNormal = normal.filter((t) => t.settled);
    expect(busyNormal).toHaveLength(20 - 2 - 5);
    for (const t of busyNormal) {
      expectKind(t, 'busy');
      expect(t.ms).toBeLessThan(50);
    }
    expect(high.filter((t) => t.settled)).toHaveLength(1);
    expectKind(high[5]!, 'busy');
    expect(pool.health().queued).toEqual({ high: 5, normal: 5, low: 0 });
    await Promise.all([...normal, ...high].map((t) => t.promise));
    for (const t of [...normal.slice(0, 7), ...high.slice(0, 5)]) expectKind(t, 'ok');
  });

  it('serves a high-priority operation before earlier-queued normal and low ones', async () => {
    fc = freshFaults();
    const { pool } = await openProcessPool(shim, { workers: 1, pipelineDepth: 1 });
    fc.inject('C_Sign delay=15');
    const submitted: { priority: Priority; t: Tracked }[] = [];
    const submit = (priority: Priority) => submitted.push({ priority, t: track(pool.sign(request(ec, randomBytes(8), { priority }))) });
    submit('normal');
    for (let i = 0; i < 4; i++) {
      submit('low');
      submit('normal');
    }
    submit('high');
    await Promise.all(submitted.map((s) => s.t.promise));
    for (const s of submitted) expectKind(s.t, 'ok');
    const order = [...submitted].sort((a, b) => a.t.order! - b.t.order!).map((s) => s.priority);
    expect(order).toEqual(['normal', 'high', 'normal', 'normal', 'normal', 'normal', 'low', 'low', 'low', 'low']);
  });

  it('rejects an operation already at the token when its deadline passes, without waiting for the process', async () => {
    fc = freshFaults();
    const { pool } = await openProcessPool(shim, { workers: 1, pipelineDepth: 1 });
    fc.inject('C_Sign delay=600 1');
    const slow = await outcome(pool.sign(request(ec, randomBytes(8), { deadlineMs: 150 })));
    expectKind(slow, 'timeout');
    expect(slow.ms).toBeLessThan(450);
    expectKind(await outcome(pool.sign(request(ec, randomBytes(8)))), 'ok');
  });
});

describe('worker processes: crashes, the parent, the PIN', () => {
  it('a killed worker process: its operations fail unavailable (none left pending), it is replaced, the pool keeps signing', async () => {
    const faults = (fc = freshFaults());
    const rec = recordChildProcesses();
    try {
      const pool = await openPool(processOptions(shim, { workers: 2, pipelineDepth: 4, reconnectInitialMs: 50 }));
      expect(rec.children).toHaveLength(2);
      await signsOk(pool, 8);
      faults.inject('C_Sign delay=20');
      const victim = rec.children[0]!;
      const during = Array.from({ length: 40 }, () => track(pool.sign(request(ec, randomBytes(8)))));
      await sleep(30);
      victim.kill('SIGKILL');
      await Promise.all(during.map((t) => t.promise));
      const kinds = new Set(during.map((t) => t.kind));
      for (const k of kinds) expect(['ok', 'unavailable']).toContain(k);
      expect(during.filter((t) => t.kind === 'unavailable').length).toBeGreaterThan(0);
      await waitFor(() => rec.live().length === 2 && pool.health().tokens[0]!.workers === 2, 5000, 'a replacement process');
      expect(rec.children).toHaveLength(3);
      expect(processAlive(victim.pid!)).toBe(false);
      faults.clear();
      await signsOk(pool, 200);
      expect(pool.health().tokens[0]).toMatchObject({ state: 'up', workers: 2 });
    } finally {
      rec.stop();
    }
  });

  it('the PIN is neither in argv nor in the environment of a worker process; variables holding or naming a PIN are left out', async () => {
    process.env.STRONGROOM_TEST_SECRET_VALUE = `prefix-${token.pin}`;
    process.env.STRONGROOM_TEST_PIN_FILE = '/nonexistent';
    try {
      const { pool, pids } = await openProcessPool(REAL_MODULE, { workers: 2 });
      await signsOk(pool, 4);
      for (const pid of pids) {
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        expect(cmdline).not.toContain(token.pin);
        expect(environ.join('\n')).not.toContain(token.pin);
        expect(environ.filter((kv) => /PIN/i.test(kv.split('=')[0]!))).toEqual([]);
        // The rest of the environment is inherited (the token directory of this run, for one).
        expect(environ).toContain(`SOFTHSM2_CONF=${process.env.SOFTHSM2_CONF}`);
      }
    } finally {
      delete process.env.STRONGROOM_TEST_SECRET_VALUE;
      delete process.env.STRONGROOM_TEST_PIN_FILE;
    }
  });

  it('worker processes exit when their parent dies (SIGKILL, no chance to clean up)', async () => {
    const script = `
      import { subscribe } from 'node:diagnostics_channel';
      import { SessionPool } from ${JSON.stringify(join(ROOT, 'hsm/session-pool.ts'))};
      const kids = [];
      subscribe('child_process', (m) => kids.push(m.process));
      const pool = await SessionPool.open({
        primary: { name: 'primary', module: ${JSON.stringify(REAL_MODULE)}, token: { label: ${JSON.stringify(token.label)} }, pin: process.env.HELPER_TOKEN_PIN },
        workers: 2, pipelineDepth: 4, queueLimit: 100, deadlineMs: 5000, keyHandles: 'session-copy', workerKind: 'process',
      });
      await pool.sign({ key: { label: ${JSON.stringify(ec.label)} }, algorithm: 'ecdsa-sha256', data: new Uint8Array(8) });
      console.log(JSON.stringify(kids.map((k) => k.pid)));
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      // Killed, the helper cannot remove its login-gate directory: let it make that in this run's directory.
      env: { ...process.env, HELPER_TOKEN_PIN: token.pin, TMPDIR: process.env.STRONGROOM_TEST_ROOT ?? tmpdir() },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        parent.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        parent.on('exit', (code) => reject(new Error(`helper exited early (${code})`)));
        setTimeout(() => reject(new Error('helper did not start in time')), 20_000).unref();
      });
      const pids = JSON.parse(line) as number[];
      expect(pids).toHaveLength(2);
      for (const pid of pids) expect(processAlive(pid)).toBe(true);
      parent.kill('SIGKILL');
      const ms = await waitFor(() => pids.every((pid) => !processAlive(pid)), 5000, 'orphaned worker processes to exit');
      expect(ms).toBeLessThan(5000);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('token down (0x32 on every call): fail fast, not ready, recovers when the device returns', async () => {
    fc = freshFaults();
    const { pool } = await openProcessPool(shim, { workers: 2, pipelineDepth: 2, reconnectInitialMs: 100, reconnectMaxMs: 400 });
    fc.inject('* rv=0x32');
    expectKind(await outcome(pool.sign(request(ec, randomBytes(32)))), 'unavailable');
    await waitFor(() => !pool.health().ready, 5000, 'not ready');
    const t = await outcome(pool.sign(request(ec, randomBytes(8))));
    expectKind(t, 'unavailable');
    expect(t.ms).toBeLessThan(50);
    fc.clear();
    await waitFor(() => pool.health().ready, 5000, 'ready again');
    expect(pool.health().tokens[0]).toMatchObject({ state: 'up', workers: 2 });
    await signsOk(pool, 20);
  });
});

describe('worker processes: a wrong PIN costs exactly one login attempt', () => {
  it('SessionPool.open with 4 worker processes: kind auth, one process started, one C_Login, no retry afterwards', async () => {
    fc = freshFaults();
    const rec = recordChildProcesses();
    try {
      let err: unknown;
      try {
        await openPool(processOptions(shim, { workers: 4, reconnectInitialMs: 50, reconnectMaxMs: 100 }, WRONG_PIN));
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ kind: 'auth', ckr: 0xa0 });
      expect((err as Error).message).not.toContain(WRONG_PIN);
      // Only the first process ever ran, so its own count is the token's count.
      expect(rec.children).toHaveLength(1);
      expect(fc.stats().logins).toBe(1);
      await sleep(400);
      expect(rec.children).toHaveLength(1);
      expect(fc.stats().logins).toBe(1);
      await waitFor(() => rec.live().length === 0, 3000, 'the refused process to exit');
    } finally {
      rec.stop();
    }
  });

  it('both processes lose their login under load and the PIN is refused: one wrong attempt across the processes, state refused', async () => {
    fc = freshFaults();
    const stats = statsPerProcess();
    const saved = process.env.STRONGROOM_FAULT_STATS;
    let pool: SessionPool;
    try {
      stats.next(); // the first process
      const opening = openPool(processOptions(shim, { workers: 2, pipelineDepth: 2 }));
      stats.next(); // the second, started once the first has logged in
      pool = await opening;
    } finally {
      process.env.STRONGROOM_FAULT_STATS = saved;
    }
    await signsOk(pool, 10);
    expect(stats.sum('logins')).toBe(2); // one login per process: each is an application of its own
    fc.inject(['C_SignInit logout 1', 'C_Login rv=CKR_PIN_INCORRECT']);
    const burst = Array.from({ length: 16 }, () => track(pool.sign(request(ec, randomBytes(8)))));
    await Promise.all(burst.map((t) => t.promise));
    for (const t of burst) expect(['ok', 'auth']).toContain(t.kind);
    expect(burst.filter((t) => t.kind === 'auth').length).toBeGreaterThan(0);
    expect(pool.health().tokens[0]!.state).toBe('refused');
    await sleep(300);
    expect(stats.sum('logins')).toBe(3);
  });

  it('the file login gate across processes: four processes refused at once make one attempt between them', async () => {
    const dir = mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), 'gate-'));
    const attempts = join(dir, 'attempts');
    writeFileSync(attempts, '');
    const startAt = Date.now() + 1500;
    const script = `
      import { appendFileSync } from 'node:fs';
      import { FileLoginGate } from ${JSON.stringify(join(ROOT, 'hsm/login-gate.ts'))};
      const gate = new FileLoginGate(${JSON.stringify(dir)});
      while (Date.now() < ${startAt}) {}
      let outcome;
      try {
        outcome = gate.run(
          () => { appendFileSync(${JSON.stringify(attempts)}, process.pid + '\\n'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); throw Object.assign(new Error('refused'), { kind: 'auth' }); },
          () => 'other',
          () => 'refused-before',
        );
      } catch (e) { outcome = 'attempted-' + e.kind; }
      console.log(outcome);
    `;
    const results = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<string>((resolve, reject) => {
            const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
            let out = '';
            p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
            p.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`gate helper exited ${code}`))));
          }),
      ),
    );
    expect(readFileSync(attempts, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(results.sort()).toEqual(['attempted-auth', 'refused-before', 'refused-before', 'refused-before']);
  });
});
