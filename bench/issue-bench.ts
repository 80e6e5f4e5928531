// npm run bench:issue — certificates/s and latency through POST /v1/certificates (HTTP, bearer token, CSR parsing,
// policy, serial reserved in the database, lint, HSM signature on a SoftHSM2 P-256 issuing key, verification,
// commit with the audit entry), next to CFSSL (`cfssl serve`, software ECDSA P-256 CA, POST /api/v1/cfssl/sign)
// under the same load in the same run, and the ratio. The CA runs in a child process of its own, as CFSSL does;
// the load is a small keep-alive loop here (pre-generated P-256 CSRs), at each concurrency of BENCH_CONCURRENCY
// (connections; a comma-separated list, default 16,64,256), both servers at one concurrency before the next.
// PostgreSQL when DATABASE_URL is set (a fresh database, dropped after), else PGlite. BENCH_SECONDS, BENCH_WARMUP
// (per server and concurrency), BENCH_FIRST_WARMUP (each server, once, before anything is measured) and
// BENCH_CONCURRENCY tune it; BENCH_CA_NODE_ARGS passes Node options to the CA's process (e.g. "--cpu-prof
// --cpu-prof-dir=/tmp/prof": the profile is written when the CA exits after the run).
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { freePort } from '../test/support/free-port.ts';
import { processesCpuMs, procStat } from './proc-cpu.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
// Before the first measurement, each server is driven this long unrecorded: three seconds left the CA's JIT cold
// (16 connections three times in a row: 368, then 466 and 455 certificates/s; CPU per certificate 3,009 → 2,122).
const FIRST_WARMUP = Number(process.env.BENCH_FIRST_WARMUP ?? 15);
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '16,64,256').split(',').map(Number);
const CSRS = 256;

if (process.argv[2] === '--serve-ca') await serveCa();
else await main();

// ---- the CA, in a child process ------------------------------------------------------------------------------------

async function serveCa(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'strongroom-bench-ca-'));
  mkdirSync(join(root, 'tokens'));
  writeFileSync(join(root, 'softhsm2.conf'), `directories.tokendir = ${join(root, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = join(root, 'softhsm2.conf');
  process.env.STRONGROOM_TEST_ROOT = root;
  // After the environment: the token directory is read when the PKCS#11 module first loads.
  const { makeChain, importIssuer, serverConfig } = await import('../test/http/fixture.ts');
  const { freshDatabase } = await import('../test/support/database.ts');
  const { migrateLatest } = await import('../ca/db/migrate.ts');
  const { createCaServer } = await import('../ca/server/index.ts');
  const chain = await makeChain('bench');
  const db = await freshDatabase();
  await migrateLatest(db.knex);
  await importIssuer(db.knex, chain, 'issuing-ca');
  const ca = await createCaServer({ config: serverConfig(chain, { http: { maxInFlight: 4096 } }), pin: chain.token.pin, database: db.knex });
  const listening = await ca.listen();
  const { token } = await ca.clients.add({ name: 'bench', grants: { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } } }, 'bench');
  process.stdout.write(`${JSON.stringify({ url: listening.url, token, database: db.url ? 'PostgreSQL' : 'PGlite' })}\n`);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await ca.close();
  await db.drop();
  rmSync(root, { recursive: true, force: true });
  process.exit(0);
}

// ---- CFSSL ---------------------------------------------------------------------------------------------------------

function ensureCfssl(): void {
  if (spawnSync('cfssl', ['version']).status === 0) return;
  console.error('bench:issue: installing golang-cfssl with apt-get');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  execFileSync(sudo[0] ?? 'apt-get', [...(sudo.length ? ['apt-get'] : []), 'install', '-y', '-qq', 'golang-cfssl'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

async function startCfssl(dir: string): Promise<{ url: string; child: ChildProcess }> {
  writeFileSync(join(dir, 'ca-csr.json'), JSON.stringify({ CN: 'Bench CFSSL CA', key: { algo: 'ecdsa', size: 256 }, names: [{ O: 'Bench' }] }));
  const ca = JSON.parse(execFileSync('cfssl', ['gencert', '-initca', join(dir, 'ca-csr.json')], { stdio: ['ignore', 'pipe', 'ignore'] }).toString()) as { cert: string; key: string };
  writeFileSync(join(dir, 'ca.pem'), ca.cert);
  writeFileSync(join(dir, 'ca-key.pem'), ca.key, { mode: 0o600 });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ signing: { default: { expiry: '2160h', usages: ['digital signature', 'server auth'] } } }));
  const port = await freePort();
  const child = spawn('cfssl', ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', join(dir, 'ca.pem'), '-ca-key', join(dir, 'ca-key.pem'), '-config', join(dir, 'config.json'), '-loglevel', '5'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await post(new Agent(), `${url}/api/v1/cfssl/sign`, '{}').then(() => true, () => false);
    if (ok) return { url, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('cfssl serve did not start');
}


// ---- load ----------------------------------------------------------------------------------------------------------

function post(agent: Agent, url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Result {
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU µs per certificate over the recorded seconds: the server (all threads), its main thread, PostgreSQL. */
  cpuUs: { server: number; main: number; postgres: number };
}

/** CPU ms so far of the server's process, of its main thread, and of PostgreSQL's processes. */
/**
 * CFSSL keeps no certificate database here (`database` false): PostgreSQL's CPU meanwhile is our idle CA's backends
 * coming and going (an exited process takes its CPU time with it, which read as -121 µs per certificate): printed –.
 */
function cpuOf(pid: number, database = true): () => { server: number; main: number; postgres: number } {
  return () => ({ server: procStat(pid)?.cpuMs ?? NaN, main: procStat(`${pid}/task/${pid}`)?.cpuMs ?? NaN, postgres: database ? processesCpuMs('postgres') : NaN });
}

/** `concurrency` keep-alive loops, `warmup` seconds unrecorded, then `seconds` recorded. */
async function drive(
  concurrency: number,
  url: string,
  bodies: string[],
  headers: Record<string, string>,
  ok: (r: { status: number; body: string }) => boolean,
  cpu: () => { server: number; main: number; postgres: number },
  { warmup = WARMUP, seconds = SECONDS } = {},
): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  const recordFrom = t0 + warmup * 1000;
  const end = recordFrom + seconds * 1000;
  // CPU read when the recorded seconds start and end: per certificate it is steadier than certificates/s here.
  const readings: ReturnType<typeof cpu>[] = [];
  const timers = [setTimeout(() => readings.push(cpu()), recordFrom - t0), setTimeout(() => readings.push(cpu()), end - t0)];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let now = performance.now(); now < end; now = performance.now()) {
        const body = bodies[next++ % bodies.length]!;
        const started = performance.now();
        const r = await post(agent, url, body, headers).catch(() => ({ status: 0, body: '' }));
        const done = performance.now();
        if (started < recordFrom || done > end) continue;
        if (ok(r)) latencies.push(done - started);
        else errors++;
      }
    }),
  );
  agent.destroy();
  for (const t of timers) clearTimeout(t);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  const [a, b] = readings;
  const perCert = (k: 'server' | 'main' | 'postgres') => (a && b ? ((b[k] - a[k]) * 1000) / Math.max(1, latencies.length) : NaN);
  return { perSecond: latencies.length / Math.max(seconds, 1e-9), p50: at(0.5), p99: at(0.99), errors, cpuUs: { server: perCert('server'), main: perCert('main'), postgres: perCert('postgres') } };
}

/** P-256 CSRs made by openssl (key thrown away), CN and DNS SAN h<i>.svc.internal. */
async function csrs(n: number): Promise<string[]> {
  const run = promisify(execFile);
  const one = async (i: number) =>
    (await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', `/CN=h${i}.svc.internal`, '-addext', `subjectAltName=DNS:h${i}.svc.internal`])).stdout;
  const out: string[] = [];
  for (let i = 0; i < n; i += 8) out.push(...(await Promise.all(Array.from({ length: Math.min(8, n - i) }, (_, j) => one(i + j)))));
  return out;
}

// ---- main ----------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  ensureCfssl();
  const dir = mkdtempSync(join(tmpdir(), 'strongroom-bench-cfssl-'));
  const pems = await csrs(CSRS);
  const children: ChildProcess[] = [];
  try {
    const caChild = spawn(process.execPath, [...(process.env.BENCH_CA_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', import.meta.filename, '--serve-ca'], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    children.push(caChild);
    const first = await new Promise<string>((resolve, reject) => {
      // The first JSON line: Node options that print (BENCH_CA_NODE_ARGS="--trace-gc-nvp") write lines of their own.
      const lines = createInterface({ input: caChild.stdout! });
      lines.on('line', (line) => {
        if (line.startsWith('{"url"')) resolve(line);
        else if (process.env.BENCH_CA_STDOUT) process.stderr.write(`${line}\n`);
      });
      caChild.once('exit', (code) => reject(new Error(`the CA exited (${code}) before serving`)));
    });
    const ca = JSON.parse(first) as { url: string; token: string; database: string };
    const cfssl = await startCfssl(dir);
    children.push(cfssl.child);

    console.log(`bench:issue — ${FIRST_WARMUP} s warm-up first, then ${WARMUP} s warm-up and ${SECONDS} s measured per server and concurrency, ${CSRS} distinct P-256 CSRs; CA on ${ca.database}`);
    const us = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');
    // The main thread is Node's event loop; a Go server's first thread says nothing.
    const row = (name: string, c: number, r: Result, main = true) =>
      `| ${name} | ${c} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} | ${us(r.cpuUs.server)}${main ? ` (main thread ${us(r.cpuUs.main)})` : ''} + ${us(r.cpuUs.postgres)} |`;
    const rows: string[] = [];
    const ratios: string[] = [];
    const ours = (c: number, t?: { warmup: number; seconds: number }) =>
      drive(c, `${ca.url}/v1/certificates`, pems.map((csr) => JSON.stringify({ csr, profile: 'tls-server' })), { Authorization: `Bearer ${ca.token}` }, (r) => r.status === 201, cpuOf(caChild.pid!), t);
    const theirs = (c: number, t?: { warmup: number; seconds: number }) =>
      drive(c, `${cfssl.url}/api/v1/cfssl/sign`, pems.map((csr) => JSON.stringify({ certificate_request: csr })), {}, (r) => r.status === 200 && (JSON.parse(r.body) as { success?: boolean }).success === true, cpuOf(cfssl.child.pid!, false), t);
    await ours(CONCURRENCIES[0]!, { warmup: FIRST_WARMUP, seconds: 0 });
    await theirs(CONCURRENCIES[0]!, { warmup: FIRST_WARMUP, seconds: 0 });
    for (const c of CONCURRENCIES) {
      const a = await ours(c);
      const b = await theirs(c);
      rows.push(row(`Strongroom (SoftHSM2 P-256, ${ca.database}, audit + lint)`, c, a), row('CFSSL 1.2 `cfssl serve` (software P-256, no certdb)', c, b, false));
      ratios.push(`${c}: ${((100 * a.perSecond) / b.perSecond).toFixed(0)}%`);
    }
    console.log('\n| | connections | certificates/s | p50 ms | p99 ms | errors | CPU µs per certificate: server + PostgreSQL |\n|---|---|---|---|---|---|---|');
    for (const r of rows) console.log(r);
    console.log(`\nStrongroom ÷ CFSSL by connections: ${ratios.join(', ')}`);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
}
