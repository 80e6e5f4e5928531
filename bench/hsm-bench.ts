// npm run bench:hsm — signatures/s through the session pool at sizes 1, 2, 4, with worker threads and with worker
// processes (alternating, size by size), next to what the machine can do in the same run: two separate processes
// with one session each (the physical limit on 2 cores) and Node's in-process crypto.sign with a software key.
// Ratios, not absolute numbers, are what compare across machines.
import { execFile, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initSoftToken, measureThroughput, Pkcs11KeyStore, PoolSigner, SessionPool, SOFTHSM_MODULE, type KeyType } from '../hsm/index.ts';
import { procStat } from './proc-cpu.ts';
import { DEFAULT_PIPELINE_DEPTH } from '../hsm/hsm-config.ts';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const SIZES = (process.env.BENCH_SIZES ?? '1,2,4').split(',').map(Number);
const PROCESSES = availableParallelism();
const FIRST = process.env.BENCH_FIRST === 'process' ? 'process' : 'thread';

const root = mkdtempSync(join(tmpdir(), 'strongroom-bench-'));
mkdirSync(join(root, 'tokens'));
writeFileSync(join(root, 'softhsm2.conf'), `directories.tokendir = ${join(root, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
process.env.SOFTHSM2_CONF = join(root, 'softhsm2.conf');
const pin = 'bench-pin-1234';
const label = 'bench';
initSoftToken({ module: SOFTHSM_MODULE, label, soPin: 'bench-so-1234', userPin: pin });
const store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label }, pin });
const keys: { label: string; type: KeyType; node: 'ec' | 'rsa'; opts: object }[] = [
  { label: 'p256', type: 'ec-p256', node: 'ec', opts: { namedCurve: 'P-256' } },
  { label: 'rsa2048', type: 'rsa-2048', node: 'rsa', opts: { modulusLength: 2048 } },
];
for (const k of keys) store.generate({ type: k.type, label: k.label });

// SoftHSM2 rewrites token.object on every C_Login; a process that loads the token or logs in at that moment can
// fail ("no token with label …", C_Login CKR_GENERAL_ERROR; both seen here under load). So the baseline processes
// start 700 ms apart (they then wait for a common start time), and a failed start is tried again.
async function processes(keyLabel: string, mode: 'token' | 'session-copy'): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await processesOnce(keyLabel, mode);
    } catch (e) {
      if (attempt >= 3) throw e;
      console.error(`(baseline processes failed to start, attempt ${attempt}: ${String((e as { stderr?: string }).stderr).split('\n').find((l) => l.includes('Error')) ?? e}; again)`);
    }
  }
}

async function processesOnce(keyLabel: string, mode: 'token' | 'session-copy'): Promise<number> {
  const STAGGER_MS = 700;
  const startAt = Date.now() + STAGGER_MS * PROCESSES + 1500;
  const results = await Promise.all(
    Array.from({ length: PROCESSES }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i * STAGGER_MS));
      return run(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'sign-loop.ts'), SOFTHSM_MODULE, label, keyLabel, String(SECONDS), String(startAt), mode], {
        env: { ...process.env, BENCH_PIN: pin },
      });
    }),
  );
  return results.reduce((sum, r) => {
    const j = JSON.parse(r.stdout) as { ops: number; seconds: number };
    return sum + j.ops / j.seconds;
  }, 0);
}

// Child processes this process starts (the pool's worker processes among them), to add their CPU time.
const children = new Set<ChildProcess>();
subscribe('child_process', (m) => {
  const child = (m as { process: ChildProcess }).process;
  children.add(child);
  child.once('exit', () => children.delete(child));
});

/** utime + stime of a process from /proc (all its threads), in µs; 0 if it is gone. */
function procCpuUs(pid: number | 'self'): number {
  return (procStat(pid)?.cpuMs ?? 0) * 1000;
}
/** CPU of this process (main thread and worker threads) and of its live children. */
function treeCpuUs(): number {
  let us = procCpuUs('self');
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) us += procCpuUs(c.pid);
  return us;
}

/**
 * Per thread of this process and of its live children: [ns on a CPU, ns waiting in a run queue] (schedstat). Wall
 * time minus both is time blocked: sleeping on a lock inside the module, or idle waiting for work.
 */
function schedSnapshot(): Map<string, { cpu: number; runq: number; main: boolean }> {
  const out = new Map<string, { cpu: number; runq: number; main: boolean }>();
  const pids = [process.pid, ...[...children].filter((c) => c.pid !== undefined && c.exitCode === null).map((c) => c.pid!)];
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const [cpu, runq] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
        out.set(`${pid}/${tid}`, { cpu: cpu!, runq: runq!, main: tid === String(process.pid) });
      } catch {
        // the thread ended
      }
    }
  }
  return out;
}

/**
 * Where the workers' time went: the threads other than this process's main thread that used ≥ 10% of a CPU (the
 * session workers, threads or processes), averaged, as shares of wall time.
 */
function workerTime(before: ReturnType<typeof schedSnapshot>, after: ReturnType<typeof schedSnapshot>, wallNs: number): { cpu: number; runq: number; blocked: number } {
  const shares: { cpu: number; runq: number }[] = [];
  for (const [key, b] of after) {
    const a = before.get(key);
    if (!a || b.main) continue;
    const cpu = (b.cpu - a.cpu) / wallNs;
    if (cpu >= 0.1) shares.push({ cpu, runq: (b.runq - a.runq) / wallNs });
  }
  if (shares.length === 0) return { cpu: 0, runq: 0, blocked: 0 };
  const cpu = shares.reduce((n, x) => n + x.cpu, 0) / shares.length;
  const runq = shares.reduce((n, x) => n + x.runq, 0) / shares.length;
  return { cpu, runq, blocked: Math.max(0, 1 - cpu - runq) };
}

interface PoolRun {
  perSecond: number;
  /** CPU (all cores: main thread, workers, worker processes) per signature, µs. */
  cpuUs: number;
  /** Share of the measured time the main thread's event loop was busy. */
  mainElu: number;
  workers: { cpu: number; runq: number; blocked: number };
}

async function pool(keyLabel: string, workers: number, keyHandles: 'token' | 'session-copy', workerKind: 'thread' | 'process'): Promise<PoolRun> {
  const p = await SessionPool.open({
    primary: { name: 'primary', module: SOFTHSM_MODULE, token: { label }, pin },
    workers,
    pipelineDepth: Number(process.env.BENCH_DEPTH ?? DEFAULT_PIPELINE_DEPTH),
    queueLimit: 100_000,
    deadlineMs: 30_000,
    keyHandles,
    workerKind,
  });
  try {
    const pub = store.publicKey({ label: keyLabel });
    const signer = new PoolSigner(p, { label: keyLabel }, pub.keyType, pub.spki);
    const data = Buffer.alloc(256, 7);
    await measureThroughput(() => signer.sign(data), { seconds: 0.5, concurrency: 64 });
    const cpu0 = treeCpuUs();
    const elu0 = performance.eventLoopUtilization();
    const sched0 = schedSnapshot();
    const t0 = performance.now();
    const r = await measureThroughput(() => signer.sign(data), { seconds: SECONDS, concurrency: 64 });
    const workers = workerTime(sched0, schedSnapshot(), (performance.now() - t0) * 1e6);
    const elu = performance.eventLoopUtilization(elu0);
    const cpu = treeCpuUs() - cpu0;
    if (r.errors) throw new Error(`${r.errors} signing errors`);
    return { perSecond: r.perSecond, cpuUs: cpu / r.ops, mainElu: elu.utilization, workers };
  } finally {
    await p.close();
  }
}

function nodeSign(k: (typeof keys)[number]): number {
  const { privateKey } = generateKeyPairSync(k.node as 'ec', k.opts as { namedCurve: string });
  const data = Buffer.alloc(256, 7);
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) sign('sha256', data, privateKey);
    n += 20;
  }
  return n / ((performance.now() - start) / 1000);
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)}%`;
const lines: string[] = [];
const costs: string[] = [];
console.log(`bench:hsm — SoftHSM2, ${availableParallelism()} CPUs, ${SECONDS}s per cell, Node ${process.version}, ${FIRST} workers first`);
for (const k of keys) {
  const node = nodeSign(k);
  const procToken = await processes(k.label, 'token');
  const procCopy = await processes(k.label, 'session-copy');
  const threads: [number, PoolRun][] = [];
  const procs: [number, PoolRun][] = [];
  // Thread and process workers alternate size by size, so a change in the machine's load hits both alike;
  // BENCH_FIRST=process swaps which goes first (alternate it between runs).
  for (const w of SIZES) {
    for (const kind of FIRST === 'process' ? (['process', 'thread'] as const) : (['thread', 'process'] as const)) {
      (kind === 'thread' ? threads : procs).push([w, await pool(k.label, w, 'session-copy', kind)]);
    }
  }
  const tokenHandles = await pool(k.label, PROCESSES, 'token', 'thread');
  const bestOf = (runs: [number, PoolRun][]) => Math.max(...runs.map(([, r]) => r.perSecond));
  const bestThread = bestOf(threads);
  const bestProcess = bestOf(procs);
  const best = Math.max(bestThread, bestProcess);
  const sizesOf = (runs: [number, PoolRun][]) => runs.map(([w, r]) => `${w}: ${fmt(r.perSecond)}`).join(' · ');
  lines.push(
    `| ${k.type} | ${sizesOf(threads)} | ${sizesOf(procs)} | ${fmt(tokenHandles.perSecond)} | ${fmt(procToken)} | ${fmt(procCopy)} | ${fmt(node)} | ` +
      `${bestProcess >= bestThread ? 'process' : 'thread'} ${pct(best, procToken)} | ${pct(best, procCopy)} | ${pct(bestThread, procCopy)} | ${pct(bestProcess, procCopy)} | ${(best / node).toFixed(2)} |`,
  );
  console.log(lines.at(-1));
  const costOf = (runs: [number, PoolRun][]) =>
    runs
      .map(([w, r]) => {
        const t = r.workers;
        const share = (x: number) => (x * 100).toFixed(0);
        return `${w}: ${Math.round(r.cpuUs)} µs, ${((r.cpuUs * r.perSecond) / 1e6).toFixed(2)} cores, main ${share(r.mainElu)}%, worker ${share(t.cpu)}/${share(t.runq)}/${share(t.blocked)}`;
      })
      .join(' · ');
  costs.push(`| ${k.type} | ${costOf(threads)} | ${costOf(procs)} |`);
  console.log(costs.at(-1));
}
console.log('');
console.log(
  `| key | pool, thread workers: sig/s | pool, process workers: sig/s | pool, token handles, ${PROCESSES} threads | ${PROCESSES} processes, token handles | ${PROCESSES} processes, session copies | Node crypto.sign, 1 core | ` +
    'best pool (kind) ÷ processes (token) | best pool ÷ processes (copies) | best thread pool ÷ processes (copies) | best process pool ÷ processes (copies) | best pool ÷ Node |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const l of lines) console.log(l);
console.log('');
console.log(
  'CPU per signature (main thread, worker threads, worker processes together), cores kept busy (CPU per signature × signatures/s), ' +
    "main-thread event-loop utilisation, and each worker's wall time: % on a CPU / % waiting for a CPU / % blocked (a lock in the module, or no work):",
);
console.log('| key | thread workers | process workers |');
console.log('|---|---|---|');
for (const l of costs) console.log(l);
store.close();
rmSync(root, { recursive: true, force: true });
