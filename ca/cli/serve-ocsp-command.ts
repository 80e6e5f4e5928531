/**
 * `strongroom serve ocsp`: a standalone OCSP responder over the CA's database, optionally with its own HSM access.
 * With --processes N (PostgreSQL only) the first process forks N-1 more that share the port (Node's cluster); the
 * PIN is read once and handed to them over the IPC channel — never argv, never the environment. One process of the
 * group pre-signs; the others serve and follow the database.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { databaseUrlFromEnv } from '../db/connect.ts';
import { createOcspServer } from '../server/ocsp-server.ts';
import { ocspServerConfigSchema } from '../server/ocsp-server-config.ts';
import { EXIT, UsageError } from './cli-error.ts';
import { hsmFlagSpec, pinFor, resolveHsmTarget, type HsmFlags } from './hsm-options.ts';
import { HELPER_THREAD_NICE, niceHelperThreads } from './process-priority.ts';

export const SERVE_OCSP_USAGE = `strongroom serve ocsp [--port 8081] [--host 127.0.0.1] [--processes N] [--no-hsm] [--config FILE.json]
  Answers OCSP (POST /ocsp, GET /ocsp/BASE64) from the CA's database: pre-signed answers from memory, live
  signatures through the HSM for nonces and misses. --no-hsm serves pre-signed answers only (tryLater where it would
  have to sign). --processes N runs N responder processes on one port (needs DATABASE_URL). --config takes the full
  configuration as JSON (ca/server/ocsp-server-config.ts); flags override it.`;

type Out = (line: string) => void;

interface Flags extends HsmFlags {
  port?: string;
  host?: string;
  processes?: string;
  'no-hsm'?: boolean;
  config?: string;
  help?: boolean;
}

export async function serveOcspCommand(argv: string[], out: Out, err: Out = out, opts: { signal?: AbortSignal } = {}): Promise<number> {
  let values: Flags;
  try {
    values = parseArgs({
      args: argv,
      options: { ...hsmFlagSpec, port: { type: 'string' }, host: { type: 'string' }, processes: { type: 'string' }, 'no-hsm': { type: 'boolean' }, config: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }).values as Flags;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${SERVE_OCSP_USAGE}`);
  }
  if (values.help) {
    out(SERVE_OCSP_USAGE);
    return EXIT.ok;
  }
  const file = readConfigFile(values.config);
  const number = (flag: string, v: string | undefined, max: number) => {
    if (v === undefined) return undefined;
    if (!/^\d{1,6}$/.test(v) || Number(v) > max) throw new UsageError(`--${flag} takes a number up to ${max}`);
    return Number(v);
  };
  const port = number('port', values.port, 65_535);
  const processes = number('processes', values.processes, 256);
  const target = resolveHsmTarget(values);
  const useHsm = !values['no-hsm'];
  const fileHttp = (file.http ?? {}) as Record<string, unknown>;
  const fileHsm = (file.hsm ?? {}) as Record<string, unknown>;
  const databaseUrl = databaseUrlFromEnv();
  const input = {
    ...file,
    ...(values['data-dir'] !== undefined || file.dataDir === undefined ? { dataDir: target.dataDir } : {}),
    ...(databaseUrl ? { databaseUrl } : {}),
    http: { ...fileHttp, ...(values.host ? { host: values.host } : {}), ...(port !== undefined ? { port } : {}) },
    ...(useHsm ? { hsm: { ...fileHsm, module: target.module, token: target.token, pin: target.pinSource } } : { hsm: undefined }),
    ...(processes !== undefined ? { processes } : {}),
  };
  const parsed = ocspServerConfigSchema.safeParse(input);
  if (!parsed.success) throw new UsageError(`configuration: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  const config = parsed.data;
  if (config.processes > 1 && !config.databaseUrl) throw new UsageError('--processes > 1 needs PostgreSQL (DATABASE_URL): the embedded database belongs to one process');

  if (cluster.isWorker) return worker(config, out, err);
  const pin = config.hsm ? await pinFor({ ...target, pinSource: config.hsm.pin }) : undefined;
  if (config.processes > 1) return primary(config.processes, pin, out, err, opts.signal);
  return runOne(config, pin, true, out, err, opts.signal);
}

async function runOne(config: unknown, pin: string | undefined, presign: boolean, out: Out, err: Out, signal?: AbortSignal): Promise<number> {
  const server = await createOcspServer({ config, ...(pin !== undefined ? { pin } : {}), presign });
  const listening = await server.listen();
  out(`strongroom: OCSP responder on ${listening.url}/ocsp${server.pool ? '' : ' (no HSM: pre-signed answers only)'}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    process.once('disconnect', resolve);
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  err('strongroom: stopping');
  await server.close();
  return EXIT.ok;
}

/**
 * Node flags of the responder processes, beyond the primary's own. `--single-threaded-gc`: by default V8 spreads a
 * major collection over four helper threads at normal priority. With two responders on two cores they crowded out
 * the HSM worker threads (nice 10, hsm/worker-priority.ts), and live answers waited 20–60 ms behind them in 100 ms
 * bursts (bench:ocsp at half of saturation, run and wait time of every thread from schedstat). On the main thread
 * alone the same collection also costs less CPU. `--no-memory-reducer`: when load falls (a saturation ends, the
 * traffic of the day ebbs), V8 shrinks an idle-looking heap with full collections, on the HSM worker threads too —
 * 7-10 ms pauses of the thread every live answer waits for, at the moment the load changes. A responder's heap is
 * its working size; it keeps it. V8 cannot change either once started (setFlagsFromString aborts), so they go on
 * the command line of the processes forked here.
 */
export const RESPONDER_NODE_FLAGS = ['--single-threaded-gc', '--no-memory-reducer'];

/** The primary keeps the flags it was started with; its helper threads yield (process-priority.ts says why). */
async function primary(n: number, pin: string | undefined, out: Out, err: Out, signal?: AbortSignal): Promise<number> {
  // The workers run this same command line; they learn the PIN and whether they pre-sign over IPC.
  const execArgv = [...process.execArgv, ...RESPONDER_NODE_FLAGS.filter((f) => !process.execArgv.includes(f))];
  cluster.setupPrimary({ args: process.argv.slice(2), execArgv, silent: false });
  const workers = Array.from({ length: n }, (_, i) => {
    const w = cluster.fork();
    // The worker asks once it listens for the answer (a message sent before that would be lost).
    w.on('message', (m: unknown) => {
      if ((m as { strongroomOcspReady?: boolean }).strongroomOcspReady) w.send({ strongroomOcsp: { pin, presign: i === 0 } });
    });
    return w;
  });
  // After the forks: a child takes the nice value of the thread that forks it (the main thread, untouched anyway).
  niceHelperThreads(HELPER_THREAD_NICE);
  out(`strongroom: ${n} OCSP responder processes`);
  let stopping = false;
  const exited = Promise.all(workers.map((w) => new Promise<number>((resolve) => w.once('exit', (code) => resolve(code ?? 1)))));
  void exited.then(() => {
    if (!stopping) err('strongroom: an OCSP responder process exited');
  });
  await Promise.race([
    exited,
    new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    }),
  ]);
  stopping = true;
  for (const w of workers) if (w.isConnected()) w.disconnect();
  const codes = await exited;
  return codes.every((c) => c === 0) ? EXIT.ok : EXIT.failure;
}

async function worker(config: unknown, out: Out, err: Out): Promise<number> {
  const msg = await new Promise<{ pin?: string; presign: boolean }>((resolve) => {
    const on = (m: unknown) => {
      const x = (m as { strongroomOcsp?: { pin?: string; presign: boolean } }).strongroomOcsp;
      if (x) {
        process.off('message', on);
        resolve(x);
      }
    };
    process.on('message', on);
    process.send?.({ strongroomOcspReady: true });
  });
  return runOne(config, msg.pin, msg.presign, out, err);
}

function readConfigFile(path: string | undefined): Record<string, unknown> {
  if (!path) return {};
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`--config ${path}: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError(`--config ${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}
