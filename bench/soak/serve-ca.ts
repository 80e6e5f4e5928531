// The CA under soak, in a child process of its own (started by bench/soak-bench.ts with --expose-gc): a fresh
// SoftHSM2 token and database (PostgreSQL when DATABASE_URL is set, dropped at the end; else PGlite), the issuing CA
// imported, and the server with its production defaults for everything that sheds load (http.maxInFlight 256,
// ocsp.maxPending 4096, HSM pool queueLimit 4096 and deadlineMs 2000, two pool workers). Two API clients: "bench"
// (no rate limit) and "limited" (a per-client token bucket, so 429 is exercised too).
//
// stdout carries the server's log (pino JSON, level warn) and this process's own lines, which start with
// {"soak":…}: "ready" once serving, "heap" in answer to "gc" on stdin (heap after a full GC).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

const LIMITED_RATE = { ratePerSecond: 2, burst: 5 };

const root = mkdtempSync(join(tmpdir(), 'strongroom-soak-ca-'));
mkdirSync(join(root, 'tokens'));
writeFileSync(join(root, 'softhsm2.conf'), `directories.tokendir = ${join(root, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
process.env.SOFTHSM2_CONF = join(root, 'softhsm2.conf');
process.env.STRONGROOM_TEST_ROOT = root;
// After the environment: the token directory is read when the PKCS#11 module first loads.
const { makeChain, importIssuer } = await import('../../test/http/fixture.ts');
const { freshDatabase } = await import('../../test/support/database.ts');
const { migrateLatest } = await import('../../ca/db/migrate.ts');
const { createCaServer } = await import('../../ca/server/index.ts');

// Libraries that write to the console (tarn's "Acquire connection error") go to stderr, so that stdout carries only
// whole JSON lines.
for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) console[m] = (...args: unknown[]) => void process.stderr.write(`${args.map(String).join(' ')}\n`);
const say = (o: object) => process.stdout.write(`${JSON.stringify({ soak: 'line', ...o })}\n`);

const chain = await makeChain('soak');
const db = await freshDatabase();
await migrateLatest(db.knex);
await importIssuer(db.knex, chain, 'issuing-ca');
const ca = await createCaServer({
  config: {
    profilesDir: join(import.meta.dirname, '..', '..', 'profiles'),
    log: { level: 'warn' },
    http: { host: '127.0.0.1', port: 0 },
    hsm: { module: chain.token.module, token: { label: chain.token.label } },
    limits: { perClient: { clients: { limited: LIMITED_RATE } } },
  },
  pin: chain.token.pin,
  database: db.knex,
});
const listening = await ca.listen();
const grants = { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } };
const { token } = await ca.clients.add({ name: 'bench', grants }, 'bench');
const { token: limitedToken } = await ca.clients.add({ name: 'limited', grants }, 'bench');

const heap = () => {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
};

// Every 5 s, what the server itself sees: event-loop delay, the HSM pool's queues, OCSP requests waiting off the
// memory path, the database pool.
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
let gcMs = 0;
let gcMax = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcMs += e.duration;
    gcMax = Math.max(gcMax, e.duration);
  }
}).observe({ entryTypes: ['gc'] });
const knexPool = (ca.db.client as { pool?: { numUsed(): number; numPendingAcquires(): number } }).pool;
setInterval(() => {
  const h = ca.pool.health();
  say({
    soak: 'status',
    at: Date.now(),
    gcMs,
    gcMax,
    loopP99: loop.percentile(99) / 1e6,
    loopMax: loop.max / 1e6,
    hsmQueued: h.queued,
    hsmInFlight: h.inFlight,
    hsmReady: h.ready,
    ocspPending: ca.ocsp?.handler.pending() ?? 0,
    dbUsed: knexPool?.numUsed() ?? NaN,
    dbWaiting: knexPool?.numPendingAcquires() ?? NaN,
  });
  loop.reset();
  gcMs = 0;
  gcMax = 0;
}, 5000).unref();

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'facts') {
    // What the database says after the run: certificate rows by status (a 503 after the serial was reserved leaves
    // a 'failed' row), and every change of the token that signs (the pool's failover watcher).
    void (async () => {
      const rows = (await ca.db('certificates').select('status').count({ n: '*' }).groupBy('status')) as { status: string; n: string | number }[];
      const serving = (await ca.db('audit_log').where({ action: 'hsm.serving' }).orderBy('seq').select('at', 'details')) as { at: Date; details: { from: string; to: string } }[];
      say({ soak: 'facts', certificates: Object.fromEntries(rows.map((r) => [r.status, Number(r.n)])), serving: serving.map((e) => ({ at: new Date(e.at).getTime(), from: e.details.from, to: e.details.to })) });
    })().catch((err: unknown) => say({ soak: 'facts', error: String(err) }));
    return;
  }
  if (line.trim() !== 'gc') return;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  say({ soak: 'heap', gc: gc !== undefined, ...heap() });
});

say({
  soak: 'ready',
  url: listening.url,
  token,
  limitedToken,
  issuerDer: Buffer.from(chain.issuingDer).toString('hex'),
  database: db.url ? 'PostgreSQL' : 'PGlite',
  databaseUrl: db.url ? new URL(db.url).pathname.slice(1) : undefined,
  maxInFlight: ca.config.http.maxInFlight,
  ocspMaxPending: ca.config.ocsp.maxPending,
  poolQueueLimit: ca.config.hsm.pool.queueLimit,
  poolWorkers: ca.config.hsm.pool.workers,
  signDeadlineMs: ca.config.ocsp.signDeadlineMs,
  limited: LIMITED_RATE,
});

await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
await ca.close();
await db.drop();
rmSync(root, { recursive: true, force: true });
process.exit(0);
