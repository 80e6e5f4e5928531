// npm run bench:tsa — time-stamp tokens/s through the TSA service (parse, serial, TSTInfo, signed attributes, HSM
// signature, token, recorded in the database by group commit) next to raw HSM signatures/s with the same key and
// pool in the same run; the goal is ≥ 70% of raw. The phases take turns in one-second slices, so a shared machine's
// bursts fall on all of them alike; tokens without the database are measured too, to tell encoding from recording. DATABASE_URL: PostgreSQL (a fresh database, dropped after), else PGlite.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { MessageImprint, TimeStampReq } from '@peculiar/asn1-tsp';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { migrateLatest } from '../ca/db/migrate.ts';
import { TimestampStore, type TimestampRecord } from '../ca/db/timestamp-store.ts';
import { SerialAllocator } from '../ca/tsa/serial-allocator.ts';
import { GroupCommit } from '../ca/db/group-commit.ts';
import { TsaService } from '../ca/tsa/tsa-service.ts';
import { tsaConfigSchema } from '../ca/tsa/tsa-config.ts';
import { SessionPool } from '../hsm/index.ts';
import { makeChain } from '../test/http/fixture.ts';
import { freshDatabase } from '../test/support/database.ts';
import { identityOf, tsaCredentials } from '../test/tsa/support.ts';
import { interleave, type Phase } from './interleaved.ts';
import { machineTicks, processesCpuMs, procStat } from './proc-cpu.ts';
import { DEFAULT_PIPELINE_DEPTH } from '../hsm/hsm-config.ts';

// BENCH_SECONDS per phase, run as that many one-second slices taken in turns with the other phases (interleaved.ts).
const ROUNDS = Math.max(1, Math.round(Number(process.env.BENCH_SECONDS ?? 5) / Number(process.env.BENCH_SLICE_SECONDS ?? 1)));
const SLICE_SECONDS = Number(process.env.BENCH_SLICE_SECONDS ?? 1);
const SETTLE_MS = 100;
// Many clients: a token waits for its group commit, so a closed loop of few clients measures latency, not capacity.
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256);
const WORKERS = Number(process.env.BENCH_WORKERS ?? availableParallelism());

const root = mkdtempSync(join(tmpdir(), 'strongroom-tsa-bench-'));
mkdirSync(join(root, 'tokens'));
writeFileSync(join(root, 'softhsm2.conf'), `directories.tokendir = ${join(root, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
process.env.SOFTHSM2_CONF = join(root, 'softhsm2.conf');
process.env.STRONGROOM_TEST_ROOT = root;

const chain = await makeChain('tsa-bench');
const db = await freshDatabase();
const pool = await SessionPool.open({
  primary: { name: 'primary', module: chain.token.module, token: { label: chain.token.label }, pin: chain.token.pin },
  workers: WORKERS,
  pipelineDepth: Number(process.env.BENCH_DEPTH ?? DEFAULT_PIPELINE_DEPTH),
  queueLimit: 100_000,
  deadlineMs: 30_000,
  keyHandles: 'session-copy',
});
try {
  await migrateLatest(db.knex);
  const identity = identityOf(pool, await tsaCredentials(chain, pool), chain);
  const store = new TimestampStore(db.knex);
  // The server's defaults (tsa.commit), each open to an override.
  const commit = tsaConfigSchema.parse({}).commit;
  const recorder = new GroupCommit<TimestampRecord>((rows) => store.insertMany(rows), {
    delayMs: Number(process.env.BENCH_COMMIT_DELAY ?? commit.delayMs),
    maxBatch: commit.maxBatch,
    maxConcurrent: Number(process.env.BENCH_COMMIT_CONCURRENCY ?? commit.maxConcurrent),
    batchTarget: Number(process.env.BENCH_COMMIT_TARGET ?? commit.batchTarget),
  });
  const tsa = new TsaService({
    identity: () => identity,
    policies: ['1.3.6.1.4.1.99999.3161.1'],
    accuracyMs: 1000,
    clock: () => new Date(),
    clockOk: () => true,
    serials: new SerialAllocator((n) => store.reserveSerials(n), 500),
    recorder,
  });
  // What openssl ts -query -sha256 -cert sends: SHA-256 imprint, a 64-bit nonce, certReq.
  const request = new Uint8Array(
    AsnConvert.serialize(
      new TimeStampReq({
        messageImprint: new MessageImprint({ hashAlgorithm: new AlgorithmIdentifier({ algorithm: '2.16.840.1.101.3.4.2.1' }), hashedMessage: new OctetString(new Uint8Array(32).fill(9)) }),
        nonce: Uint8Array.of(0x1f, 2, 3, 4, 5, 6, 7, 8).buffer,
        certReq: true,
      }),
    ),
  );
  // The signed attributes of a token are ~200 bytes: sign that much raw.
  const data = Buffer.alloc(200, 7);
  // The same service without the database: what parsing, encoding and signing cost, apart from recording.
  const unrecordedTsa = new TsaService({
    identity: () => identity,
    policies: ['1.3.6.1.4.1.99999.3161.1'],
    accuracyMs: 1000,
    clock: () => new Date(),
    clockOk: () => true,
    serials: new SerialAllocator((n) => store.reserveSerials(n), 500),
    recorder: { record: async () => undefined },
  });
  const token = (service: TsaService) => async () => {
    const a = await service.respond(request);
    if (!a.granted) throw new Error(`refused: ${a.failInfo}`);
  };
  // Per phase, summed over its slices: machine ticks (for the idle share) and CPU ms of this process (all threads)
  // and of PostgreSQL's processes — CPU per operation is steadier than operations/s on a shared machine.
  const readings = new Map<string, { total: number; idle: number; self: number; pg: number }>();
  const postgresMs = () => processesCpuMs('postgres');
  const measured = (name: string, op: () => Promise<unknown>): Phase => {
    const r = { total: 0, idle: 0, self: 0, pg: 0 };
    readings.set(name, r);
    let t0 = machineTicks();
    let self0 = 0;
    let pg0 = 0;
    return {
      name,
      op,
      around: {
        before() {
          t0 = machineTicks();
          self0 = procStat('self')!.cpuMs;
          pg0 = postgresMs();
        },
        after() {
          const t1 = machineTicks();
          r.total += t1.total - t0.total;
          r.idle += t1.idle - t0.idle;
          r.self += procStat('self')!.cpuMs - self0;
          r.pg += postgresMs() - pg0;
        },
      },
    };
  };
  const phases = [measured('raw', () => identity.signer.sign(data)), measured('recorded', token(tsa)), measured('unrecorded', token(unrecordedTsa))];
  const shape = { sliceSeconds: SLICE_SECONDS, concurrency: CONCURRENCY, settleMs: SETTLE_MS };
  // A warm-up round without readings (JIT, the pool's pipelines, the table's first pages), then the measured rounds.
  await interleave(phases.map(({ name, op }) => ({ name, op })), { ...shape, rounds: 1 });
  const results = await interleave(phases, { ...shape, rounds: ROUNDS });
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  console.log(`bench:tsa — SoftHSM2 ${identity.signer.keyType}, ${WORKERS} pool workers, ${availableParallelism()} CPUs, concurrency ${CONCURRENCY}, ${ROUNDS} rounds of ${SLICE_SECONDS}s per phase (first ${SETTLE_MS} ms of each not counted), ${db.url ? 'PostgreSQL' : 'PGlite'}, Node ${process.version}`);
  console.log('');
  console.log('| | per second | p50 ms | p99 ms | errors | machine idle | CPU µs per op: this process + PostgreSQL |');
  console.log('|---|---|---|---|---|---|---|');
  const row = (label: string, name: string) => {
    const t = results.get(name)!;
    const c = readings.get(name)!;
    const perOp = (ms: number) => ((ms * 1000) / Math.max(1, t.completed)).toFixed(0);
    console.log(`| ${label} | ${fmt(t.perSecond)} | ${t.p50ms.toFixed(2)} | ${t.p99ms.toFixed(2)} | ${t.errors} | ${((c.idle / Math.max(1, c.total)) * 100).toFixed(0)}% | ${perOp(c.self)} + ${perOp(c.pg)} |`);
  };
  row('raw HSM signatures', 'raw');
  row('time-stamp tokens, recorded', 'recorded');
  row('time-stamp tokens, not recorded', 'unrecorded');
  console.log('');
  const raw = results.get('raw')!.perSecond;
  // One decimal: a ratio of 69.8% must not print as the goal of 70%.
  const pct = (name: string) => ((results.get(name)!.perSecond / raw) * 100).toFixed(1);
  console.log(`recorded tokens ÷ raw: ${pct('recorded')}% (goal ≥ 70%); not recorded ÷ raw: ${pct('unrecorded')}%; ${(recorder.stats.rows / Math.max(1, recorder.stats.flushes)).toFixed(1)} tokens per INSERT over ${fmt(recorder.stats.flushes)} flushes`);
} finally {
  await pool.close();
  await db.drop();
  rmSync(root, { recursive: true, force: true });
}
