// npm run bench:ocsp — the OCSP responder (`strongroom serve ocsp`, a process per core on PostgreSQL) under wrk on
// loopback, next to the HSM's raw signature rate for the responder's key and OpenSSL's responder
// (`openssl ocsp -index … -multi 2`) answering the same request shapes, all in one run:
//   (a) cached: GET and POST without a nonce (answers pre-signed, served from memory);
//   (b) live: POST with a fresh 16-octet nonce on every request (every answer an HSM signature);
//   (c) raw HSM signatures/s, the responder's P-256 key, through the session pool;
//   (d) OpenSSL's responder with a software P-256 key, POST, without and with a nonce;
//   p99 at half of the measured saturation (an open-loop, paced generator); and, for reference, OpenSSL's responder
//   paced at half of its own saturation (software key, and key in SoftHSM) and ours at the first one's rate.
// (a)-(d) take turns: rounds of a BENCH_SLICE_SECONDS slice of each, BENCH_SECONDS of each in all, so that a neighbour's burst on
// a shared machine falls on all of them alike rather than on whichever ran then. Ratios are what compare across
// machines. DATABASE_URL: PostgreSQL (a fresh database, dropped after); else the
// embedded database and one responder process.
// This process only watches while the paced generator runs, but it holds ~50 MB of heap from the phases before. Left
// to itself, V8's memory reducer collected it during the paced runs (a 28 ms pause, 39 ms of marking steps and four
// helper threads at normal priority, both cores for ~40 ms): live p99 at half of saturation 65 ms in that run against
// 3-8 ms in the four before it. package.json therefore runs this file with --no-memory-reducer and
// --single-threaded-gc; a run without them says so.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { migrateLatest } from '../ca/db/migrate.ts';
import { createCaServer } from '../ca/server/index.ts';
import { toPem } from '../ca/x509/index.ts';
import { measureThroughput, Pkcs11KeyStore, PoolSigner, SessionPool } from '../hsm/index.ts';
import { issuerHashes } from '../ocsp/encoding/index.ts';
import { certIdDer } from '../ocsp/cert-id.ts';
import { tlv, TAG, fromHex } from '../ocsp/encoding/der-writer.ts';
import { importIssuer, makeChain, serverConfig } from '../test/http/fixture.ts';
import { freshDatabase } from '../test/support/database.ts';
import type { StallReport } from './machine-stalls.ts';
import { bodiesFile, pacedLoad } from './paced-load.ts';
import { wakeCost } from './wake-cost.ts';
import { cpuByThread, idleShare, machineTicks, procStat, switchesByThread } from './proc-cpu.ts';
import { DEFAULT_PIPELINE_DEPTH } from '../hsm/hsm-config.ts';

const run = promisify(execFile);
// BENCH_SECONDS per measurement in all, as rounds of BENCH_SLICE_SECONDS (wrk counts whole seconds).
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const SLICE_SECONDS = Math.max(1, Math.round(Number(process.env.BENCH_SLICE_SECONDS ?? 2)));
const ROUNDS = Math.max(1, Math.round(SECONDS / SLICE_SECONDS));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const CERTS = Number(process.env.BENCH_CERTS ?? 200);
const CORES = availableParallelism();
const missingFlags = ['--single-threaded-gc', '--no-memory-reducer'].filter((f) => !process.execArgv.includes(f));
if (missingFlags.length) console.error(`bench:ocsp: running without ${missingFlags.join(' ')}: this process's own garbage collection may land in the paced runs (see the top of this file; npm run bench:ocsp sets them)`);

async function ensureTools() {
  const missing: string[] = [];
  // Command → package. cyclictest (rt-tests) watches for the machine's own stalls in the paced runs (machine-stalls.ts).
  for (const [tool, pkg] of [['wrk', 'wrk'], ['openssl', 'openssl'], ['cyclictest', 'rt-tests']] as const) await run('sh', ['-c', `command -v ${tool}`]).catch(() => missing.push(pkg));
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(', ')} (Debian packages)…`);
  await run('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(' ')}`], { maxBuffer: 1 << 24 });
}
await ensureTools();

const root = mkdtempSync(join(tmpdir(), 'strongroom-ocsp-bench-'));
mkdirSync(join(root, 'tokens'));
writeFileSync(join(root, 'softhsm2.conf'), `directories.tokendir = ${join(root, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
process.env.SOFTHSM2_CONF = join(root, 'softhsm2.conf');
process.env.STRONGROOM_TEST_ROOT = root;

const children: ChildProcess[] = [];
const cleanup = () => {
  for (const c of children) signalGroup(c, 'SIGKILL');
};
process.on('exit', cleanup);

// ---- the CA: issuer, responder certificate, certificates, pre-signed answers -----------------------------------------
const chain = await makeChain('ocsp-bench');
const db = await freshDatabase();
await migrateLatest(db.knex);
await importIssuer(db.knex, chain, 'issuing-ca');
const ca = await createCaServer({ config: serverConfig(chain, { log: { level: 'silent' } }), pin: chain.token.pin, database: db.knex });
await ca.listen();
const issuer = ca.issuers.active()!;
const responder = await ca.serviceCertificates.ensure('ocsp', issuer.row.id);
const serials: string[] = [];
const leafPems: { serial: string; notAfter: Date }[] = [];
for (let i = 0; i < CERTS; i++) {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const c = await ca.issuance.issueForKey({ profile: 'ocsp-signer', spki, keyType: 'ec-p256', actor: 'bench' });
  serials.push(c.serial);
  leafPems.push({ serial: c.serial, notAfter: c.notAfter });
}
// A software responder certificate for OpenSSL's responder, issued by the same CA.
const openssl = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const opensslCert = await ca.issuance.issueForKey({ profile: 'ocsp-signer', spki: new Uint8Array(openssl.publicKey.export({ type: 'spki', format: 'der' })), keyType: 'ec-p256', actor: 'bench' });
// And one whose key is in SoftHSM, for OpenSSL's responder through the PKCS#11 engine (the issue's "≈ 1.5×" row).
const ks = Pkcs11KeyStore.open({ module: chain.token.module, token: { label: chain.token.label }, pin: chain.token.pin });
const opensslHsmKey = ks.generate({ type: 'ec-p256', label: 'openssl-responder' });
ks.close();
const opensslHsmCert = await ca.issuance.issueForKey({ profile: 'ocsp-signer', spki: new Uint8Array(opensslHsmKey.spki), keyType: 'ec-p256', actor: 'bench' });
await ca.ocsp!.responder.reload();
while ((await ca.ocsp!.responder.presignDue(500)) > 0);
await ca.close();
await db.knex.destroy();

// ---- requests -----------------------------------------------------------------------------------------------------
const h = issuerHashes(issuer.row.certificateDer).sha1;
const ocspRequest = (certIds: Uint8Array[], nonce?: Uint8Array) => {
  const list = tlv(TAG.SEQUENCE, ...certIds.map((id) => tlv(TAG.SEQUENCE, id)));
  const ext = nonce ? [tlv(0xa2, tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, fromHex('06092b0601050507300102'), tlv(TAG.OCTET_STRING, tlv(TAG.OCTET_STRING, nonce)))))] : [];
  return tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, list, ...ext));
};
const cachedBodies = serials.map((s) => ocspRequest([certIdDer('sha1', h.name, h.key, s)]));
const nonceTemplate = ocspRequest([certIdDer('sha1', h.name, h.key, serials[0]!)], new Uint8Array(16).fill(0xee));
const nonceAt = Buffer.from(nonceTemplate).indexOf(Buffer.alloc(16, 0xee));
writeFileSync(join(root, 'cached.hex'), cachedBodies.map((b) => Buffer.from(b).toString('hex')).join('\n') + '\n');
writeFileSync(join(root, 'nonce.hex'), Buffer.from(nonceTemplate).toString('hex') + '\n');

interface Load {
  rps: number;
  p50: number;
  p99: number;
  /** Paced runs: p99 from the schedule alone, the generator's own lateness included (paced-load.ts). */
  p99Strict?: number;
  errors: number;
  /** The responder's CPU (all its processes and threads) per answer, µs: steadier than answers/s on a shared machine. */
  cpuUs?: number;
  /** Paced runs: the share of the machine's CPU left idle meanwhile, 0-1. */
  idle?: number;
  /** Paced runs: the generator's own CPU per request (paced-load.ts). */
  generatorCpuUs?: number;
  /** Paced runs: the machine's own stalls meanwhile (machine-stalls.ts). */
  stalls?: StallReport;
}

/** CPU time (user + system) of these processes, all threads, in ms; a process gone meanwhile counts as zero. */
function cpuMs(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (procStat(pid)?.cpuMs ?? 0), 0);
}
const pidsOf = (pgrepArgs: string[]) => () =>
  spawnSync('pgrep', pgrepArgs, { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);

/** One wrk slice: what it answered, over how long, and the responder's CPU meanwhile. */
interface Slice {
  answered: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
  cpuMs?: number;
}

async function wrk(url: string, mode: 'get' | 'post' | 'nonce', path = '/ocsp', responderPids?: () => number[], seconds = SLICE_SECONDS): Promise<Slice> {
  const pids = responderPids?.() ?? [];
  const cpuBefore = cpuMs(pids);
  const threadsBefore = process.env.BENCH_DEBUG ? cpuByThread(pids) : undefined;
  const { stdout } = await run('wrk', ['-t', String(CORES), '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--latency', '-s', join(import.meta.dirname, 'ocsp-wrk.lua'), url], {
    env: { ...process.env, OCSP_MODE: mode, OCSP_PATH: path, OCSP_BODIES: join(root, mode === 'nonce' ? 'nonce.hex' : 'cached.hex'), OCSP_NONCE_AT: String(nonceAt) },
  });
  const ms = (label: string) => {
    const m = new RegExp(`\\s${label}\\s+([\\d.]+)(us|ms|s)`).exec(stdout);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  if (process.env.BENCH_DEBUG) console.error(stdout);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)\b/.exec(stdout);
  const answered = Number(done?.[1] ?? 0);
  const unit = { us: 1e-6, ms: 1e-3, s: 1, m: 60 }[done?.[3] ?? 's'] ?? 1;
  const cpu = pids.length ? cpuMs(pids) - cpuBefore : undefined;
  if (threadsBefore && answered) {
    const parts = [...cpuByThread(pids)]
      .map(([name, ms]) => [name, ((ms - (threadsBefore.get(name) ?? 0)) * 1000) / answered] as const)
      .filter(([, us]) => us >= 1)
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => `${name} ${Math.round(us)}`);
    console.error(`  ${mode}: responder CPU µs/answer by thread: ${parts.join(', ')}`);
  }
  return { answered, seconds: Number(done?.[2] ?? seconds) * unit, p50: ms('50%'), p99: ms('99%'), errors: Number(errors?.[1] ?? 0) + (socket ? Number(socket[4]) : 0), ...(cpu !== undefined ? { cpuMs: cpu } : {}) };
}

/** Slices of one measurement added up: answers over seconds; CPU over answers; p50 and p99 the median slice's. */
function total(slices: Slice[]): Load {
  const answered = slices.reduce((n, x) => n + x.answered, 0);
  const seconds = slices.reduce((n, x) => n + x.seconds, 0);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const cpu = slices.every((x) => x.cpuMs !== undefined) ? slices.reduce((n, x) => n + x.cpuMs!, 0) : undefined;
  return {
    rps: seconds > 0 ? answered / seconds : 0,
    p50: median(slices.map((x) => x.p50)),
    p99: median(slices.map((x) => x.p99)),
    errors: slices.reduce((n, x) => n + x.errors, 0),
    ...(cpu !== undefined && answered ? { cpuUs: (cpu * 1000) / answered } : {}),
  };
}

/** Open loop at a fixed rate, from a process of its own (bench/paced-load.ts says how and why). */
let pacedRuns = 0;
// It also measures the responder's CPU per answer and the machine's idle share over the run (its warm-up included,
// at the same rate): at half of wrk's saturation the machine is far less than half idle, since answers one at a time
// cost more than answers in a stream (README, bench:ocsp).
async function paced(url: string, body: (i: number) => Uint8Array, rate: number, pids: () => number[], more: { connectionPerRequest?: boolean; path?: string } = {}, seconds = 3, connections = 64): Promise<Load> {
  const bodies = join(root, `paced-${pacedRuns++}.bin`);
  writeFileSync(bodies, bodiesFile(Array.from({ length: Math.min(Math.floor(rate * seconds), 4096) }, (_, i) => body(i))));
  const warmupSeconds = 0.5;
  const cpuBefore = cpuMs(pids());
  const ticksBefore = machineTicks();
  const switchesBefore = process.env.BENCH_DEBUG ? switchesByThread(pids()) : undefined;
  const l = await pacedLoad({ url, bodies, rate, seconds, warmupSeconds, connections, ...more, debug: Boolean(process.env.BENCH_DEBUG) });
  const idle = idleShare(ticksBefore, machineTicks());
  if (switchesBefore) {
    // How often each thread went to sleep (voluntary) or was preempted, per request sent.
    const sent = rate * (seconds + warmupSeconds);
    const parts = [...switchesByThread(pids())]
      .map(([name, [v, n]]) => [name, (v - (switchesBefore.get(name)?.[0] ?? 0)) / sent, (n - (switchesBefore.get(name)?.[1] ?? 0)) / sent] as const)
      .filter(([, v, n]) => v + n >= 0.05)
      .map(([name, v, n]) => `${name} ${v.toFixed(2)}+${n.toFixed(2)}`);
    console.error(`  paced ${Math.round(rate)}/s: context switches per request by thread (voluntary+preempted): ${parts.join(', ')}`);
  }
  return { ...l, cpuUs: ((cpuMs(pids()) - cpuBefore) * 1000) / (rate * (seconds + warmupSeconds)), idle };
}

async function waitFor(url: string, child: ChildProcess, path = '/ocsp', body = cachedBodies[0]!) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`${url}${path}`, { method: 'POST', body: Buffer.from(body), headers: { 'Content-Type': 'application/ocsp-request' } }).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${url} did not answer: ${stderrOf.get(child)?.() ?? ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const stderrOf = new Map<ChildProcess, () => string>();

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  // Our responder runs as a process group of its own, stopped as a group. (OpenSSL's -multi parent refuses to run as
  // a group leader; its children, which outlive it and spin, are killed by name after each run.)
  const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: cmd !== 'openssl' });
  let err = '';
  const keep = (d: Buffer) => (err = (err + d.toString()).slice(-4000));
  c.stdout!.on('data', keep);
  c.stderr!.on('data', keep);
  stderrOf.set(c, () => err);
  c.on('exit', (code, signal) => {
    if (code && signal === null) console.error(`${cmd} exited with ${code}: ${err}`);
  });
  children.push(c);
  return c;
}

function signalGroup(c: ChildProcess, signal: NodeJS.Signals) {
  try {
    if (c.spawnargs[0] === 'openssl') {
      c.kill(signal);
      spawnSync('pkill', [`-${signal === 'SIGKILL' ? 9 : 15}`, '-f', join(root, 'openssl', 'index.txt')]);
    } else process.kill(-c.pid!, signal);
  } catch {
    // gone already
  }
}

async function stop(c: ChildProcess) {
  const exited = new Promise((r) => c.once('exit', r));
  signalGroup(c, 'SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  signalGroup(c, 'SIGKILL');
}

const stallText = (s: StallReport) => (s.maxMs === 0 ? 'none over 1 ms' : `longest ${s.maxMs.toFixed(1)} ms, ${s.over5ms} over 5 ms`);
const fmt = (l: Load) =>
  `${Math.round(l.rps).toLocaleString('en-US').padStart(7)} /s   p50 ${l.p50.toFixed(2)} ms   p99 ${l.p99.toFixed(2)} ms${l.p99Strict !== undefined ? ` (${l.p99Strict.toFixed(2)} from the schedule)` : ''}${l.cpuUs !== undefined ? `   responder CPU ${Math.round(l.cpuUs)} µs/answer` : ''}${l.idle !== undefined ? `, machine idle ${Math.round(l.idle * 100)}%` : ''}${l.generatorCpuUs !== undefined ? `, generator CPU ${Math.round(l.generatorCpuUs)} µs/request` : ''}${l.errors ? `   errors ${l.errors}` : ''}${l.stalls ? `   machine stalls: ${stallText(l.stalls)}` : ''}`;
const results: Record<string, Load> = {};

// ---- (a), (b): our responder --------------------------------------------------------------------------------------
const PORT = 18000 + Math.floor(Math.random() * 1000);
const processes = db.url ? Number(process.env.BENCH_PROCESSES ?? CORES) : 1;
const poolWorkers = Number(process.env.BENCH_POOL_WORKERS ?? (processes > 1 ? 1 : CORES));
const cfg = join(root, 'ocsp.json');
writeFileSync(cfg, JSON.stringify({ hsm: { token: { label: chain.token.label }, pool: { workers: poolWorkers, ...(process.env.BENCH_WORKER_NICE ? { workerNice: Number(process.env.BENCH_WORKER_NICE) } : {}) } }, ocsp: { presignMs: 0, ...(process.env.BENCH_CACHE_ENTRIES ? { cacheEntries: Number(process.env.BENCH_CACHE_ENTRIES) } : {}) }, log: { level: 'warn' } }));
// BENCH_CACHE_ENTRIES: the responders' ocsp.cacheEntries (100 at the least); under BENCH_CERTS, cached requests miss
// memory and read the database (the path of a CA with more unexpired certificates than its responders keep).
// BENCH_RESPONDER_NODE_ARGS: Node options for the responder's processes ("--cpu-prof --cpu-prof-dir=/tmp/prof").
const responderNodeArgs = (process.env.BENCH_RESPONDER_NODE_ARGS ?? '').split(' ').filter(Boolean);
const ours = start(process.execPath, [...responderNodeArgs, join(import.meta.dirname, '..', 'ca', 'cli', 'strongroom.mjs'), 'serve', 'ocsp', '--port', String(PORT), '--processes', String(processes), '--config', cfg, '--token', chain.token.label, '--pin-source', 'env:BENCH_PIN', ...(db.url ? [] : ['--data-dir', db.dataDir!])], {
  ...process.env,
  ...(db.url ? { DATABASE_URL: db.url } : {}),
  BENCH_PIN: chain.token.pin,
});
const oursUrl = `http://127.0.0.1:${PORT}`;
await waitFor(oursUrl, ours);
const oursPids = pidsOf(['-g', String(ours.pid)]);

// ---- (c): raw HSM signatures with the responder's key, from this process ------------------------------------------
const pool = await SessionPool.open({ primary: { name: 'primary', module: chain.token.module, token: { label: chain.token.label }, pin: chain.token.pin }, workers: CORES, pipelineDepth: DEFAULT_PIPELINE_DEPTH, queueLimit: 100_000, deadlineMs: 30_000, keyHandles: 'session-copy' });
const signer = new PoolSigner(pool, { label: responder.keyLabel, id: responder.keyId }, 'ec-p256', responder.spki);
const digestInput = new Uint8Array(200).fill(0x5a);
const rawSlice = async (): Promise<Slice> => {
  const t = await measureThroughput(() => signer.sign(digestInput, { priority: 'high' }), { seconds: SLICE_SECONDS, concurrency: 256 });
  return { answered: t.ops, seconds: t.seconds, p50: t.p50ms, p99: t.p99ms, errors: t.errors };
};

// ---- (d): OpenSSL's responder, software P-256 key, same request shapes ---------------------------------------------
const od = join(root, 'openssl');
mkdirSync(od);
writeFileSync(join(od, 'issuing.pem'), toPem(issuer.row.certificateDer, 'CERTIFICATE'));
writeFileSync(join(od, 'rsigner.pem'), toPem(opensslCert.der, 'CERTIFICATE'));
writeFileSync(join(od, 'rsigner.key'), openssl.privateKey.export({ type: 'pkcs8', format: 'pem' }));
const yymmdd = (d: Date) => d.toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z');
const evenHex = (s: string) => (s.length % 2 ? `0${s}` : s).toUpperCase();
writeFileSync(join(od, 'index.txt'), leafPems.map((l, i) => `V\t${yymmdd(l.notAfter)}\t\t${evenHex(l.serial)}\tunknown\t/O=Strongroom/CN=leaf-${i}\n`).join(''));
writeFileSync(join(od, 'index.txt.attr'), 'unique_subject = no\n');
// OpenSSL's responder spins forever once a client connects and closes without a request (wrk does that when it
// stops): a fresh one for each measurement.
const OPORT = PORT + 1;
let openssls = 0;
writeFileSync(join(od, 'rsigner-hsm.pem'), toPem(opensslHsmCert.der, 'CERTIFICATE'));
// The engine's PIN lives in this throwaway config (mode 0600) for the bench's token only.
writeFileSync(
  join(od, 'openssl-pkcs11.cnf'),
  `openssl_conf = init\n[init]\nengines = engines\n[engines]\npkcs11 = pkcs11\n[pkcs11]\nengine_id = pkcs11\ndynamic_path = /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so\nMODULE_PATH = ${chain.token.module}\nPIN = ${chain.token.pin}\ninit = 0\n`,
  { mode: 0o600 },
);
/** OpenSSL's responder, fresh, measured by wrk in the given mode, or by `measure`. */
async function opensslResponder(mode: 'post' | 'nonce', keyInHsm?: boolean): Promise<Slice>;
async function opensslResponder<T>(mode: 'post' | 'nonce', keyInHsm: boolean, measure: (url: string, pids: () => number[]) => Promise<T>): Promise<T>;
async function opensslResponder(mode: 'post' | 'nonce', keyInHsm = false, measure?: (url: string, pids: () => number[]) => Promise<unknown>): Promise<unknown> {
  // A new port each time: the previous responder's port may not be free yet.
  const port = OPORT + openssls++;
  const theirsUrl = `http://127.0.0.1:${port}`;
  const signer = keyInHsm
    ? ['-rsigner', join(od, 'rsigner-hsm.pem'), '-rkey', `org.openssl.engine:pkcs11:pkcs11:token=${chain.token.label};object=openssl-responder;type=private`]
    : ['-rsigner', join(od, 'rsigner.pem'), '-rkey', join(od, 'rsigner.key')];
  const env = keyInHsm ? { ...process.env, OPENSSL_CONF: join(od, 'openssl-pkcs11.cnf') } : process.env;
  const theirs = start('openssl', ['ocsp', '-index', join(od, 'index.txt'), '-port', String(port), ...signer, '-CA', join(od, 'issuing.pem'), '-multi', String(CORES), '-nmin', '60', '-ignore_err'], env);
  await waitFor(theirsUrl, theirs, '/');
  try {
    const pids = pidsOf(['-f', join(od, 'index.txt')]);
    return await (measure ? measure(theirsUrl, pids) : wrk(theirsUrl, mode, '/', pids));
  } finally {
    await stop(theirs);
  }
}

// ---- (a)-(d) in turns ------------------------------------------------------------------------------------------------
// Warm every responder process (the kernel spreads connections over them) on both paths first, unrecorded.
await wrk(oursUrl, 'post');
await wrk(oursUrl, 'nonce');
await rawSlice();
const OURS_GET = 'strongroom cached GET';
const OURS_POST = 'strongroom cached POST';
const OURS_LIVE = 'strongroom live POST (nonce)';
const RAW = 'raw HSM signatures (P-256, pool)';
const THEIRS_POST = 'openssl ocsp -multi POST';
const THEIRS_NONCE = 'openssl ocsp -multi POST (nonce)';
const THEIRS_HSM = 'openssl ocsp -multi POST (nonce), key in SoftHSM';
const measurements: [string, () => Promise<Slice>][] = [
  [OURS_GET, () => wrk(oursUrl, 'get', '/ocsp', oursPids)],
  [OURS_POST, () => wrk(oursUrl, 'post', '/ocsp', oursPids)],
  [OURS_LIVE, () => wrk(oursUrl, 'nonce', '/ocsp', oursPids)],
  [RAW, rawSlice],
  [THEIRS_POST, () => opensslResponder('post')],
  [THEIRS_NONCE, () => opensslResponder('nonce')],
  [THEIRS_HSM, () => opensslResponder('nonce', true)],
];
const slices = new Map<string, Slice[]>(measurements.map(([name]) => [name, []]));
let engine = true;
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, measure] of measurements) {
    if (name === THEIRS_HSM && !engine) continue;
    try {
      slices.get(name)!.push(await measure());
    } catch (err) {
      if (name !== THEIRS_HSM) throw err;
      console.error(`OpenSSL's responder with its key in SoftHSM did not run (pkcs11 engine): ${String(err)}`);
      engine = false;
    }
  }
}
for (const [name, list] of slices) if (list.length) results[name] = total(list);
await pool.close();

// ---- p99 at half of the saturation just measured ----------------------------------------------------------------------
const wake = await wakeCost();
// Our responder sat idle through the other measurements' slices: load it again first, unrecorded, as it was before.
await wrk(oursUrl, 'nonce');
const nonceBody = (i: number) => {
  const b = Uint8Array.from(nonceTemplate);
  b.set(Uint8Array.from({ length: 16 }, (_, k) => ((i >> ((k % 4) * 8)) + k * 31) & 0xff), nonceAt);
  return b;
};
results['strongroom cached POST @ half'] = await paced(oursUrl, (i) => cachedBodies[i % cachedBodies.length]!, results[OURS_POST]!.rps / 2, oursPids);
results['strongroom live POST @ half'] = await paced(oursUrl, nonceBody, results[OURS_LIVE]!.rps / 2, oursPids);
// The same load as OpenSSL's responder gets at half of its own saturation, below: a comparison at one rate.
const OURS_AT_THEIR_HALF = "strongroom live POST @ OpenSSL's half";
results[OURS_AT_THEIR_HALF] = await paced(oursUrl, nonceBody, results[THEIRS_NONCE]!.rps / 2, oursPids);
await stop(ours);
// The reference on this machine, as it is now: OpenSSL's responder (software key) paced at half of its own
// saturation, a connection per request as it answers one per connection. Not a goal; it says what the machine allows.
const THEIRS_HALF = 'openssl ocsp -multi POST (nonce) @ half';
const THEIRS_HSM_HALF = 'openssl ocsp -multi POST (nonce), key in SoftHSM @ half';
const theirHalf = (from: string, keyInHsm: boolean) => opensslResponder('nonce', keyInHsm, (url, pids) => paced(url, nonceBody, results[from]!.rps / 2, pids, { connectionPerRequest: true, path: '/' }));
results[THEIRS_HALF] = await theirHalf(THEIRS_NONCE, false);
if (results[THEIRS_HSM]) results[THEIRS_HSM_HALF] = await theirHalf(THEIRS_HSM, true);

// ---- report ----------------------------------------------------------------------------------------------------------
console.log(`\nbench:ocsp — ${CORES} cores, wrk ${CORES} threads × ${CONNECTIONS} connections, ${ROUNDS} rounds of ${SLICE_SECONDS} s slices taken in turns (${ROUNDS * SLICE_SECONDS} s each), ${CERTS} certificates, ${processes} responder process(es) × ${poolWorkers} HSM worker thread(s), ${db.url ? 'PostgreSQL' : 'PGlite'}`);
for (const [name, l] of Object.entries(results)) console.log(`  ${name.padEnd(36)} ${fmt(l)}`);
const r = (a: string, b: string) => (results[a]!.rps / results[b]!.rps).toFixed(2);
console.log('ratios:');
console.log(`  cached POST / openssl POST            ${r(OURS_POST, THEIRS_POST)}×   (goal ≥ 3)`);
console.log(`  cached GET  / openssl POST            ${r(OURS_GET, THEIRS_POST)}×`);
console.log(`  live (nonce) / openssl (nonce)        ${r(OURS_LIVE, THEIRS_NONCE)}×   (goal ≥ 1.2 against a software key)`);
if (results[THEIRS_HSM]) console.log(`  live (nonce) / openssl, key in SoftHSM  ${r(OURS_LIVE, THEIRS_HSM)}×   (goal ≈ 1.5)`);
console.log(`  live (nonce) / raw HSM signatures     ${r(OURS_LIVE, RAW)}`);
const half = (k: string) => results[`strongroom ${k} POST @ half`]!;
console.log(`  p99 at half of saturation: cached ${half('cached').p99.toFixed(2)} ms, live ${half('live').p99.toFixed(2)} ms   (goal ≤ 10 ms)`);
console.log(`    from the schedule alone, the generator's own lateness included: cached ${half('cached').p99Strict!.toFixed(2)} ms, live ${half('live').p99Strict!.toFixed(2)} ms`);
const stalled = (['cached', 'live'] as const).map((k) => (half(k).stalls ? `${k} ${stallText(half(k).stalls!)}` : `${k} not watched (cyclictest missing, or refused a real-time priority)`));
console.log(`    OpenSSL's responder at half of its own saturation (the same paced generator, a connection per request): p99 ${results[THEIRS_HALF]!.p99.toFixed(2)} ms${results[THEIRS_HSM_HALF] ? `, with its key in SoftHSM ${results[THEIRS_HSM_HALF].p99.toFixed(2)} ms` : ''}; ours, live, at the first one's rate: ${results[OURS_AT_THEIR_HALF]!.p99.toFixed(2)} ms`);
console.log(`    the machine's own longest stall meanwhile (a real-time thread woken late): ${stalled.join(', ')}`);
console.log(`    this machine: an event-loop turn that sleeps ~1 ms costs ${wake.sleepingUs.toFixed(0)} µs of CPU, one that does not ${wake.busyUs.toFixed(0)} µs (bench/wake-cost.ts)`);
console.log(`    live: responder CPU ${Math.round(half('live').cpuUs!)} µs/answer at half against ${Math.round(results[OURS_LIVE]!.cpuUs ?? NaN)} at saturation; machine idle ${Math.round(half('live').idle! * 100)}%`);

await db.drop();
rmSync(root, { recursive: true, force: true });
process.exit(0);
