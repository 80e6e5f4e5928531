// npm run bench:soak — issuance (POST /v1/certificates) and OCSP together at BENCH_OVERLOAD × (2 by default) their
// measured saturation rates for BENCH_SOAK_SECONDS (180) on loopback, against the CA in a child process of its own
// with its production defaults for load shedding (bench/soak/serve-ca.ts). What must hold:
//   - overload is answered, never failed: issuance 201, 503 (at capacity, HSM or database busy) or 429 (the
//     rate-limited client), both with Retry-After; OCSP successful or tryLater, in HTTP 200;
//   - memory is flat: the server's RSS (/proc/<pid>/status) is read every 250 ms; over the second half of the soak
//     it must not grow by more than BENCH_SOAK_RSS_GROWTH MiB (64): the median of the 5 s windows' lowest readings in
//     the last quarter against the same in the second quarter (see RSS_GROWTH below; judged for soaks of
//     MIN_JUDGED_SECONDS or more). The least-squares slopes over the second half are printed too. Heap
//     after a forced full GC (the server runs with --expose-gc) before, half-way and after is reported too;
//   - nothing fails once the load stops: after the outstanding requests drain and 2 s pass, 50 issuances and 200
//     OCSP requests at a normal rate all succeed, /readyz is 200, and the server logs no error.
// Phases: boot (fresh SoftHSM2 token and database: PostgreSQL when DATABASE_URL is set, dropped after; else PGlite),
// a few certificates issued so OCSP has answers; saturation, closed loop, BENCH_SATURATION_SECONDS (8) each for
// issuance (16 connections) and the OCSP mix (64 connections, see OCSP_MIX); the soak, open loop (paced arrivals,
// the generator's own outstanding requests bounded: ISSUE_CAP, OCSP_CONNECTIONS × OCSP_DEPTH — arrivals past the
// bound are counted as dropped, not sent); drain and cool-down. Exit status 1 if an invariant fails.
// BENCH_SOAK_LIMITED_SHARE (0.1): the share of issuance arrivals sent by the rate-limited client.
// Printed: a table of answers per 5 s window (rates of each class, success latency, the generator's drops and
// outstanding requests); a table of the server's resources (RSS low/high, CPU of server, generator and the whole
// machine, event-loop delay and GC, HSM queues, OCSP requests waiting, DB pool, new connections and connect times,
// the server's accept queue and open fds, the machine's listen-queue overflows); a summary with the database's view
// (certificate rows by status, hsm.serving audit events), the server's own metrics and its log (warn and above).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ISSUE_OK, IssueLoad, issueBodies } from './soak/issue-load.ts';
import { OCSP_MIX, OCSP_OK, OcspLoad, OcspRequests, type OcspKind } from './soak/ocsp-load.ts';
import { acceptQueue, cpuSecondsOf, fdsOf, listenOverflows, machineCpu, MiB, rssOf, slope, Tally } from './soak/stats.ts';

const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 180);
const SATURATION_SECONDS = Number(process.env.BENCH_SATURATION_SECONDS ?? 8);
const OVERLOAD = Number(process.env.BENCH_OVERLOAD ?? 2);
const LIMITED_SHARE = Number(process.env.BENCH_SOAK_LIMITED_SHARE ?? 0.1);
/**
 * The memory bound: MiB of RSS growth over the second half of the soak, measured as the median of the 5 s windows'
 * lows in the last quarter minus the same in the second quarter. Why not a least-squares slope: under this load GC
 * makes RSS a sawtooth of ±100–200 MiB with dips that last a window or two and a heap that V8 grows and shrinks over
 * tens of seconds, so a 90 s slope moves by ±50–70 MiB/min between runs without any growth (a 600 s soak stayed at
 * 540–580 MiB from 30 s to the end while 180 s runs gave second-half slopes of 14 to 73 MiB/min). Medians of lows
 * ignore the dips. Not zero: certificates issued during the soak legitimately add OCSP status and answer entries
 * (bounded by ocsp.cacheEntries). A leak of 1 KiB per OCSP request at the ~5,000/s answered here grows ~150 MiB in
 * 45 s and fails it; smaller leaks need a longer soak (BENCH_SOAK_SECONDS=600) and the heap-after-GC figures.
 */
const RSS_GROWTH = Number(process.env.BENCH_SOAK_RSS_GROWTH ?? 64);
const MIN_JUDGED_SECONDS = 120;
const SAMPLE_SECONDS = 5;
const WARMUP_SECONDS = 2;
const TIMEOUT_MS = 30_000;
const DRAIN_MS = 45_000;
const ISSUE_CAP = 1024;
const OCSP_CONNECTIONS = 256;
const OCSP_DEPTH = 32;
const CSRS = 256;
const SERIALS = 64;
const COOL_ISSUES = 50;
const COOL_OCSP = 200;

// ---- the CA ----------------------------------------------------------------------------------------------------------

interface Ready {
  url: string;
  token: string;
  limitedToken: string;
  issuerDer: string;
  database: string;
  databaseUrl?: string;
  maxInFlight: number;
  ocspMaxPending: number;
  poolQueueLimit: number;
  poolWorkers: number;
  signDeadlineMs: number;
  limited: { ratePerSecond: number; burst: number };
}
/** The server's own view, every 5 s (bench/soak/serve-ca.ts). */
interface Status {
  /** When the server wrote it (Date.now()): a starved event loop writes late. */
  at: number;
  /** GC time in the server's last 5 s, total and longest pause. */
  gcMs: number;
  gcMax: number;
  loopP99: number;
  loopMax: number;
  hsmQueued: Record<'high' | 'normal' | 'low', number>;
  hsmInFlight: number;
  hsmReady: boolean;
  ocspPending: number;
  dbUsed: number;
  dbWaiting: number;
}
interface Heap {
  gc: boolean;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(import.meta.dirname, 'soak', 'serve-ca.ts')], { stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
/** Where the run is, for the server's log lines: the drain is the tail of the load, the cool-down is after it. */
let phase: 'load' | 'drain' | 'cool' = 'load';
const logged = new Map<string, { level: number; count: number; drain: number; cool: number }>();
const heapWaiters: ((h: Heap) => void)[] = [];
let onReady: ((r: Ready) => void) | undefined;
/** Set once the server is serving (its "ready" line): what it said then. */
let booted: Ready | undefined;
let status: Status | undefined;
interface Facts {
  certificates?: Record<string, number>;
  serving?: { at: number; from: string; to: string }[];
  error?: string;
}
const factWaiters: ((f: Facts) => void)[] = [];
const note = (key: string, level: number) => {
  const e = logged.get(key) ?? { level, count: 0, drain: 0, cool: 0 };
  e.count++;
  if (phase !== 'load') e[phase]++;
  logged.set(key, e);
};
// The server's stderr (console output of libraries, crashes): counted by line with numbers blanked, stack frames
// dropped; echoed as it comes before the server is ready.
createInterface({ input: child.stderr! }).on('line', (line) => {
  if (!booted) process.stderr.write(`${line}\n`);
  if (/^\s+at /.test(line) || line.trim() === '') return;
  note(`stderr: ${line.replace(/\d+/g, 'N')}`.slice(0, 200), 40);
});
createInterface({ input: child.stdout! }).on('line', (line) => {
  let o: { soak?: string; level?: number; msg?: string; err?: { message?: string } };
  try {
    o = JSON.parse(line) as typeof o;
  } catch {
    o = { level: 40, msg: `stdout: ${line}` };
  }
  if (o.soak === 'ready') return onReady?.((booted = o as unknown as Ready));
  if (o.soak === 'heap') return heapWaiters.shift()?.(o as unknown as Heap);
  if (o.soak === 'status') return void (status = o as unknown as Status);
  if (o.soak === 'facts') return factWaiters.shift()?.(o as Facts);
  const key = `${o.level === 50 ? 'error' : o.level === 60 ? 'fatal' : 'warn'}: ${o.msg ?? ''}${o.err?.message ? ` (${o.err.message})` : ''}`.slice(0, 240);
  note(key, o.level ?? 40);
});
const childExited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
const stopChild = async () => {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  const code = await Promise.race([childExited, new Promise((r) => setTimeout(r, 30_000, 'timeout'))]);
  if (code === 'timeout') {
    child.kill('SIGKILL');
    console.error(`the CA did not stop within 30 s and was killed; its database ${booted?.databaseUrl ?? ''} may be left behind`);
  }
};
process.once('SIGINT', () => void stopChild().then(() => process.exit(130)));

const [ready, bodies] = await Promise.all([
  new Promise<Ready>((resolve, reject) => {
    onReady = resolve;
    void childExited.then((code) => reject(new Error(`the CA exited (${code}) before serving`)));
  }),
  issueBodies(CSRS),
]);
const gcHeap = () => {
  const p = new Promise<Heap>((resolve) => heapWaiters.push(resolve));
  child.stdin!.write('gc\n');
  return p;
};
const facts = () => {
  const p = new Promise<Facts>((resolve) => factWaiters.push(resolve));
  child.stdin!.write('facts\n');
  return p;
};
const pid = child.pid!;
const { hostname: host, port: portText } = new URL(ready.url);
const port = Number(portText);
const issueUrl = `${ready.url}/v1/certificates`;
const limitedEvery = (n: number) => Math.floor(n * LIMITED_SHARE) > Math.floor((n - 1) * LIMITED_SHARE);

// ---- closed loops (setup, saturation, cool-down) ----------------------------------------------------------------------

interface Until {
  warmMs?: number;
  ms?: number;
  total?: number;
}

/** `connections` issuance loops; answers arriving in the measured window go to `tally`. */
function issueClosed(connections: number, until: Until, tally: Tally, serials?: string[]): Promise<void> {
  return new Promise((resolve) => {
    const from = performance.now() + (until.warmMs ?? 0);
    const end = until.ms === undefined ? Infinity : from + until.ms;
    let sent = 0;
    const more = () => (until.total === undefined || sent < until.total) && performance.now() < end;
    const next = () => load.send(bodies[sent++ % bodies.length]!, ready.token);
    const load = new IssueLoad({
      url: issueUrl,
      maxSockets: connections,
      timeoutMs: TIMEOUT_MS,
      onAnswer: (cls, ms, serial) => {
        const now = performance.now();
        if (now >= from && now <= end) tally.add(cls, ms, cls === '201');
        if (serial) serials?.push(serial);
        if (more()) next();
        else if (load.outstanding() === 0) {
          load.close();
          resolve();
        }
      },
    });
    for (let k = 0; k < connections && more(); k++) next();
  });
}

/** `connections` OCSP loops over the mix, one request outstanding on each. */
function ocspClosed(requests: OcspRequests, connections: number, until: Until, tally: Tally, kinds: readonly OcspKind[] = OCSP_MIX): Promise<void> {
  return new Promise((resolve) => {
    const from = performance.now() + (until.warmMs ?? 0);
    const end = until.ms === undefined ? Infinity : from + until.ms;
    let sent = 0;
    const more = () => (until.total === undefined || sent < until.total) && performance.now() < end;
    const next = () => {
      const kind = kinds[sent++ % kinds.length]!;
      load.send(kind, requests.next(kind));
    };
    const load = new OcspLoad({
      host,
      port,
      connections,
      depth: 1,
      timeoutMs: TIMEOUT_MS,
      onAnswer: (_kind, cls, ms) => {
        const now = performance.now();
        if (now >= from && now <= end) tally.add(cls, ms, cls === 'successful');
        if (more()) next();
        else if (load.outstanding() === 0) {
          load.close();
          resolve();
        }
      },
    });
    for (let k = 0; k < connections && more(); k++) next();
  });
}

/** From the server's /metrics: issuance outcomes, HSM rejections, and POST /v1/certificates the server took over 5 s for. */
function metricSummary(text: string): string[] {
  const series = [...text.matchAll(/^(\w+)\{([^}]*)\} (\S+)$/gm)].map((m) => ({ name: m[1]!, labels: m[2]!, value: Number(m[3]) }));
  const label = (l: string, k: string) => new RegExp(`${k}="([^"]*)"`).exec(l)?.[1] ?? '';
  const list = (name: string, keys: string[]) =>
    series
      .filter((x) => x.name === name && x.value > 0)
      .map((x) => `${keys.map((k) => label(x.labels, k)).join('/')} ${x.value}`)
      .join(', ');
  const slow = series.filter((x) => x.name === 'strongroom_http_request_seconds_bucket' && label(x.labels, 'route') === '/v1/certificates' && label(x.labels, 'method') === 'POST');
  const over5 = [...new Set(slow.map((x) => label(x.labels, 'status')))].map((st) => {
    const at = (le: string) => slow.find((x) => label(x.labels, 'status') === st && label(x.labels, 'le') === le)?.value ?? 0;
    return `${st}: ${at('+Inf') - at('5')} of ${at('+Inf')}`;
  });
  return [
    `issuance outcomes: ${list('strongroom_issuance_requests_total', ['outcome'])}`,
    `HSM rejections (reason/priority): ${list('strongroom_hsm_rejected_total', ['reason', 'priority'])}`,
    `OCSP answers (method/source/status): ${list('strongroom_ocsp_answers_total', ['method', 'source', 'status'])}`,
    `POST /v1/certificates the server itself took over 5 s for, by status: ${over5.join(', ')}`,
  ];
}

const describe = (t: Tally) =>
  [...t.counts]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
    .join(', ');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

const invariantFailures: string[] = [];
try {
  console.log(
    `bench:soak — CA at ${ready.url} on ${ready.database}; http.maxInFlight ${ready.maxInFlight}, ocsp.maxPending ${ready.ocspMaxPending}, HSM pool ${ready.poolWorkers} workers, queueLimit ${ready.poolQueueLimit}, OCSP sign deadline ${ready.signDeadlineMs} ms; ` +
      `the "limited" client: ${ready.limited.ratePerSecond}/s, burst ${ready.limited.burst}`,
  );

  // ---- setup: certificates for OCSP to answer about ---------------------------------------------------------------
  const serials: string[] = [];
  const setup = new Tally();
  await issueClosed(4, { total: SERIALS }, setup, serials);
  if (serials.length !== SERIALS) throw new Error(`setup: ${serials.length} of ${SERIALS} certificates issued (${describe(setup)})`);
  const requests = new OcspRequests(Buffer.from(ready.issuerDer, 'hex'), serials, `${host}:${port}`);
  for (let attempt = 0; ; attempt++) {
    const t = new Tally();
    await ocspClosed(requests, 8, { total: SERIALS * 2 }, t, ['post', 'get']);
    await ocspClosed(requests, 8, { total: 16 }, t, ['nonce']);
    if (t.count('successful') === t.answered()) break;
    if (attempt === 30) throw new Error(`setup: OCSP does not answer (${describe(t)})`);
    await new Promise((r) => setTimeout(r, 1000));
  }

  // ---- saturation ---------------------------------------------------------------------------------------------------
  const satIssue = new Tally();
  await issueClosed(16, { warmMs: WARMUP_SECONDS * 1000, ms: SATURATION_SECONDS * 1000 }, satIssue);
  const satOcsp = new Tally();
  await ocspClosed(requests, 64, { warmMs: WARMUP_SECONDS * 1000, ms: SATURATION_SECONDS * 1000 }, satOcsp);
  const issueSat = satIssue.count('201') / SATURATION_SECONDS;
  const ocspSat = satOcsp.count('successful') / SATURATION_SECONDS;
  const sq = { issue: satIssue.quantiles(), ocsp: satOcsp.quantiles() };
  console.log(`saturation (closed loop, ${SATURATION_SECONDS} s each): issuance ${f1(issueSat)}/s (p50 ${f0(sq.issue.p50)} ms, p99 ${f0(sq.issue.p99)} ms; ${describe(satIssue)})`);
  console.log(`                                    OCSP mix ${OCSP_MIX.join('/')} ${f0(ocspSat)}/s (p50 ${f1(sq.ocsp.p50)} ms, p99 ${f1(sq.ocsp.p99)} ms; ${describe(satOcsp)})`);
  if (!(issueSat > 0) || !(ocspSat > 0)) throw new Error('saturation: no successful answers');
  const heapBefore = await gcHeap();

  // ---- soak: open loop at OVERLOAD × saturation ------------------------------------------------------------------
  const issueRate = OVERLOAD * issueSat;
  const ocspRate = OVERLOAD * ocspSat;
  console.log(`soak: ${SOAK_SECONDS} s at ${OVERLOAD}× — issuance ${f1(issueRate)}/s (${(LIMITED_SHARE * 100).toFixed(0)}% from the limited client), OCSP ${f0(ocspRate)}/s; generator bounds ${ISSUE_CAP} issuance, ${OCSP_CONNECTIONS}×${OCSP_DEPTH} OCSP outstanding\n`);
  let win = { issue: new Tally(), ocsp: new Tally() };
  let connects: number[] = [];
  // Sampled every 250 ms: the server's RSS (low and high of each window: GC makes it a sawtooth) and its accept queue.
  let fine = { rssMin: Infinity, rssMax: 0, acceptMax: 0 };
  const fineSampler = setInterval(() => {
    const r = rssOf(pid);
    if (r !== undefined) fine = { ...fine, rssMin: Math.min(fine.rssMin, r), rssMax: Math.max(fine.rssMax, r) };
    fine.acceptMax = Math.max(fine.acceptMax, acceptQueue(port) || 0);
  }, 250);
  const total = { issue: new Tally(), ocsp: new Tally() };
  const issue = new IssueLoad({ url: issueUrl, maxSockets: ISSUE_CAP, timeoutMs: TIMEOUT_MS, onAnswer: (cls, ms) => win.issue.add(cls, ms, cls === '201'), onConnect: (ms) => connects.push(ms) });
  const ocsp = new OcspLoad({ host, port, connections: OCSP_CONNECTIONS, depth: OCSP_DEPTH, timeoutMs: TIMEOUT_MS, onAnswer: (_k, cls, ms) => win.ocsp.add(cls, ms, cls === 'successful') });

  interface Row {
    label: string;
    seconds: number;
    rss: number;
    issue: Tally;
    ocsp: Tally;
    issueOut: number;
    ocspOut: number;
    /** CPU use in the window, in cores: the server, this generator, the whole machine (other work included). */
    cpu: { server: number; generator: number; machine: number };
    status: Status | undefined;
    wallAt: number;
    /** New issuance connections in the window and their slowest TCP connect; the machine's listen-queue overflows. */
    connects: number;
    connectMax: number;
    overflows: number;
    rssMin: number;
    rssMax: number;
    acceptMax: number;
    fds: number;
  }
  const rows: Row[] = [];
  const rssPoints: [number, number][] = [];
  const header =
    '| t s | RSS MiB | issue sent/s | 201/s | 503/s | 429/s | other | 201 p50 ms | 201 p99 ms | OCSP sent/s | successful/s | tryLater/s | other | p50 ms | p99 ms | dropped i/o | outstanding i/o |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|';
  const format = (r: Row) => {
    const s = r.seconds;
    const iq = r.issue.quantiles();
    const oq = r.ocsp.quantiles();
    const iOther = r.issue.others(ISSUE_OK).reduce((a, [, v]) => a + v, 0);
    const oOther = r.ocsp.others(OCSP_OK).reduce((a, [, v]) => a + v, 0);
    return `| ${r.label} | ${f1(r.rss / MiB)} | ${f1(r.issue.sent / s)} | ${f1(r.issue.count('201') / s)} | ${f1(r.issue.count('503') / s)} | ${f1(r.issue.count('429') / s)} | ${iOther} | ${f0(iq.p50)} | ${f0(iq.p99)} | ${f0(r.ocsp.sent / s)} | ${f0(r.ocsp.count('successful') / s)} | ${f0(r.ocsp.count('tryLater') / s)} | ${oOther} | ${f1(oq.p50)} | ${f1(oq.p99)} | ${r.issue.dropped}/${r.ocsp.dropped} | ${r.issueOut}/${r.ocspOut} |`;
  };
  console.log(header);
  const start = performance.now();
  let lastSample = start;
  let lastCpu = { server: cpuSecondsOf(pid), generator: process.cpuUsage(), machine: machineCpu() };
  let lastOverflows = listenOverflows();
  const sample = (label?: string) => {
    const now = performance.now();
    const t = (now - start) / 1000;
    const rss = rssOf(pid) ?? NaN;
    const seconds = (now - lastSample) / 1000;
    const c = { server: cpuSecondsOf(pid), generator: process.cpuUsage(), machine: machineCpu() };
    const cores = (c.machine.total - lastCpu.machine.total) / 100 / seconds;
    const cpu = {
      server: (c.server - lastCpu.server) / seconds,
      generator: (c.generator.user + c.generator.system - lastCpu.generator.user - lastCpu.generator.system) / 1e6 / seconds,
      machine: ((c.machine.busy - lastCpu.machine.busy) / Math.max(1, c.machine.total - lastCpu.machine.total)) * cores,
    };
    lastCpu = c;
    const row: Row = { label: label ?? t.toFixed(0), seconds, rss, issue: win.issue, ocsp: win.ocsp, issueOut: issue.outstanding(), ocspOut: ocsp.outstanding(), cpu, status, wallAt: Date.now(), connects: connects.length, connectMax: connects.length ? Math.max(...connects) : NaN, overflows: listenOverflows() - lastOverflows, rssMin: Math.min(fine.rssMin, rss), rssMax: Math.max(fine.rssMax, rss), acceptMax: fine.acceptMax, fds: fdsOf(pid) };
    connects = [];
    fine = { rssMin: Infinity, rssMax: 0, acceptMax: 0 };
    lastOverflows += row.overflows;
    lastSample = now;
    rows.push(row);
    if (!label) rssPoints.push([t, row.rssMin]);
    total.issue.merge(win.issue);
    total.ocsp.merge(win.ocsp);
    win = { issue: new Tally(), ocsp: new Tally() };
    console.log(format(row));
  };
  let heapMid: Promise<Heap> | undefined;
  const sampler = setInterval(() => {
    sample();
    // One full GC in the middle of the soak: live heap at half-time against the end says whether it grows.
    if (!heapMid && performance.now() - start >= (SOAK_SECONDS * 1000) / 2) heapMid = gcHeap();
  }, SAMPLE_SECONDS * 1000);
  const soakWallStart = Date.now();
  let issueSent = 0;
  let ocspSent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = (performance.now() - start) / 1000;
      if (elapsed >= SOAK_SECONDS) return resolve();
      for (const due = Math.floor(elapsed * issueRate); issueSent < due; ) {
        issueSent++;
        const token = limitedEvery(issueSent) ? ready.limitedToken : ready.token;
        if (issue.send(bodies[issueSent % bodies.length]!, token)) win.issue.sent++;
        else win.issue.dropped++;
      }
      for (const due = Math.floor(elapsed * ocspRate); ocspSent < due; ) {
        const kind = OCSP_MIX[ocspSent++ % OCSP_MIX.length]!;
        if (ocsp.send(kind, requests.next(kind))) win.ocsp.sent++;
        else win.ocsp.dropped++;
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  clearInterval(sampler);
  if (performance.now() - lastSample > 1000) sample();
  const loadStoppedAt = performance.now();
  phase = 'drain';

  // ---- drain, then cool-down at a normal rate --------------------------------------------------------------------------
  while ((issue.outstanding() > 0 || ocsp.outstanding() > 0) && performance.now() - loadStoppedAt < DRAIN_MS) await new Promise((r) => setTimeout(r, 50));
  const drainMs = performance.now() - loadStoppedAt;
  issue.close();
  ocsp.close();
  sample('drain');
  clearInterval(fineSampler);
  const socketErrors = [...ocsp.socketErrors];
  await new Promise((r) => setTimeout(r, 2000));
  phase = 'cool';
  const cool = { issue: new Tally(), ocsp: new Tally() };
  const readyz = await fetch(`${ready.url}/readyz`).then(
    (r) => r.status,
    () => 0,
  );
  await issueClosed(4, { total: COOL_ISSUES }, cool.issue);
  await ocspClosed(requests, 8, { total: COOL_OCSP }, cool.ocsp);
  await new Promise((r) => setTimeout(r, 500));
  const heapAfter = await gcHeap();
  const rssEnd = rssOf(pid) ?? NaN;
  const mid = await heapMid;
  const db = await facts();
  const metrics = await fetch(`${ready.url}/metrics`).then(
    (r) => r.text(),
    () => '',
  );

  // ---- the server's resources over time ----------------------------------------------------------------------------
  console.log(
    '\n| t s | RSS MiB low / high | CPU cores: server / generator / machine | server status age s | event-loop delay p99 / max ms | GC ms total / max | HSM queued high / normal / low | HSM in flight | OCSP pending | DB connections used / waiting | new issuance connections / slowest connect ms | server accept queue max | server open fds | listen-queue overflows (machine) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of rows) {
    const st = r.status;
    console.log(
      `| ${r.label} | ${f0(r.rssMin / MiB)} / ${f0(r.rssMax / MiB)} | ${r.cpu.server.toFixed(2)} / ${r.cpu.generator.toFixed(2)} / ${r.cpu.machine.toFixed(2)} | ${st ? f1((r.wallAt - st.at) / 1000) : '–'} | ${st ? `${f0(st.loopP99)} / ${f0(st.loopMax)}` : '–'} | ${st ? `${f0(st.gcMs)} / ${f0(st.gcMax)}` : '–'} | ${st ? `${st.hsmQueued.high} / ${st.hsmQueued.normal} / ${st.hsmQueued.low}` : '–'} | ${st?.hsmInFlight ?? '–'} | ${st?.ocspPending ?? '–'} | ${st ? `${st.dbUsed} / ${st.dbWaiting}` : '–'} | ${r.connects} / ${f0(r.connectMax)} | ${r.acceptMax} | ${r.fds} | ${r.overflows} |`,
    );
  }

  // ---- summary ------------------------------------------------------------------------------------------------------
  const soakRows = rows.filter((r) => r.label !== 'drain');
  const soakRss = soakRows.map((r) => r.rss);
  const rawSlope = (slope(soakRows.map((r, i) => [rssPoints[i]![0], r.rss] as const).filter(([t]) => t >= SOAK_SECONDS / 2)) * 60) / MiB;
  const secondHalf = rssPoints.filter(([t]) => t >= SOAK_SECONDS / 2);
  const median = (xs: number[]) => xs.filter(Number.isFinite).sort((a, b) => a - b)[Math.floor(xs.filter(Number.isFinite).length / 2)] ?? NaN;
  const slopeMiBMin = (slope(secondHalf) * 60) / MiB;
  const lowsBetween = (from: number, to: number) => median(rssPoints.filter(([t]) => t > from * SOAK_SECONDS && t <= to * SOAK_SECONDS).map(([, r]) => r));
  const rssGrowth = (lowsBetween(0.75, 1) - lowsBetween(0.25, 0.5)) / MiB;
  const iq = { issue: rows.slice(0, -1).map((r) => r.issue.quantiles()), ocsp: rows.slice(0, -1).map((r) => r.ocsp.quantiles()) };
  const max = (xs: number[]) => Math.max(...xs.filter(Number.isFinite));
  const issueOther = total.issue.others(ISSUE_OK);
  const ocspOther = total.ocsp.others(OCSP_OK);
  const coolIssueBad = COOL_ISSUES - cool.issue.count('201');
  const coolOcspBad = COOL_OCSP - cool.ocsp.count('successful');
  const errorsAfterLoad = [...logged].filter(([, e]) => e.level >= 50 && e.cool > 0);

  console.log('\nsummary');
  console.log(`  saturation (closed loop): issuance ${f1(issueSat)}/s, OCSP mix ${f0(ocspSat)}/s`);
  console.log(`  offered (${OVERLOAD}×): issuance ${f1(issueRate)}/s → sent ${f1(total.issue.sent / SOAK_SECONDS)}/s (${total.issue.dropped} dropped at the generator's bound); OCSP ${f0(ocspRate)}/s → sent ${f0(total.ocsp.sent / SOAK_SECONDS)}/s (${total.ocsp.dropped} dropped)`);
  console.log(`  issuance answers (soak + drain, ${total.issue.answered().toLocaleString('en-US')}): ${describe(total.issue)}`);
  console.log(`    201 latency per 5 s window: p50 median ${f0(median(iq.issue.map((q) => q.p50)))} ms, p99 median ${f0(median(iq.issue.map((q) => q.p99)))} ms, p99 max ${f0(max(iq.issue.map((q) => q.p99)))} ms`);
  console.log(`  OCSP answers (soak + drain, ${total.ocsp.answered().toLocaleString('en-US')}): ${describe(total.ocsp)}`);
  console.log(`    successful latency per 5 s window: p50 median ${f1(median(iq.ocsp.map((q) => q.p50)))} ms, p99 median ${f1(median(iq.ocsp.map((q) => q.p99)))} ms, p99 max ${f1(max(iq.ocsp.map((q) => q.p99)))} ms`);
  if (socketErrors.length) console.log(`    OCSP connection errors: ${socketErrors.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (issue.unavailable.size) console.log(`    503s by message: ${[...issue.unavailable].map(([k, v]) => `"${k}" ${v}`).join(', ')}`);
  for (const s of issue.samples) console.log(`    unexpected issuance answer: ${s}`);
  console.log(
    `  server RSS: first ${f1(soakRss[0]! / MiB)} MiB, max ${f1(max(soakRows.map((r) => r.rssMax)) / MiB)} MiB, last ${f1(soakRss.at(-1)! / MiB)} MiB, after cool-down ${f1(rssEnd / MiB)} MiB; growth over the second half (median of window lows, last quarter − second quarter) ${f1(rssGrowth)} MiB (bound ${RSS_GROWTH}); least-squares slope over the second half: window lows ${slopeMiBMin.toFixed(1)} MiB/min, 5 s samples ${rawSlope.toFixed(1)} MiB/min`,
  );
  const heapText = (h: Heap | undefined) => (h ? `${f1(h.heapUsed / MiB)} MiB (external ${f1(h.external / MiB)})` : '–');
  console.log(`  server heap after a full GC: before the soak ${heapText(heapBefore)}, half-way (under load) ${heapText(mid)}, after cool-down ${heapText(heapAfter)}${heapBefore.gc ? '' : ' (gc not exposed)'}`);
  console.log(`  drain: ${f0(drainMs)} ms; after the load: /readyz ${readyz}, ${COOL_ISSUES} issuances: ${describe(cool.issue)}; ${COOL_OCSP} OCSP: ${describe(cool.ocsp)}`);
  if (db.error) console.log(`  database facts: ${db.error}`);
  else {
    console.log(`  certificate rows by status: ${Object.entries(db.certificates ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    console.log(`  token that signs (audit hsm.serving): ${db.serving?.length ? db.serving.map((e) => `${e.from} → ${e.to} at t=${((e.at - soakWallStart) / 1000).toFixed(1)} s`).join('; ') : 'no change'}`);
  }
  console.log('  server metrics after the run:');
  for (const line of metricSummary(metrics)) console.log(`    ${line}`);
  console.log(`  server log (warn and above): ${logged.size === 0 ? 'nothing' : ''}`);
  for (const [k, e] of logged) console.log(`    ${e.count}× ${k} — ${e.drain} of them during the drain, ${e.cool} in the cool-down`);

  if (issueOther.length) invariantFailures.push(`issuance answers other than 201/503/429: ${issueOther.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (ocspOther.length) invariantFailures.push(`OCSP answers other than successful/tryLater: ${ocspOther.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (SOAK_SECONDS < MIN_JUDGED_SECONDS) console.log(`  (RSS growth not judged: a soak under ${MIN_JUDGED_SECONDS} s is still ramping up)`);
  else if (!(rssGrowth <= RSS_GROWTH)) invariantFailures.push(`RSS grew ${f1(rssGrowth)} MiB over the second half (bound ${RSS_GROWTH})`);
  if (readyz !== 200) invariantFailures.push(`/readyz answered ${readyz} after the load`);
  if (coolIssueBad || coolOcspBad) invariantFailures.push(`after the load: ${coolIssueBad} of ${COOL_ISSUES} issuances and ${coolOcspBad} of ${COOL_OCSP} OCSP requests did not succeed`);
  if (errorsAfterLoad.length) invariantFailures.push(`the server logged errors after the load stopped: ${errorsAfterLoad.map(([k]) => k).join('; ')}`);
  console.log(invariantFailures.length ? `\nFAILED:\n${invariantFailures.map((f) => `  - ${f}`).join('\n')}` : '\nall invariants hold');
} catch (err) {
  invariantFailures.push(String(err));
  console.error(err);
} finally {
  await stopChild();
}
process.exit(invariantFailures.length ? 1 : 0);
