// npm run bench:tsa — time-stamp tokens/s through the TSA service (parse, serial, TSTInfo, signed attributes, HSM
// signature, token, recorded in the database by group commit) next to raw HSM signatures/s with the same key and
// pool in the same run; the goal is ≥ 70% of raw. Raw is measured before and after the tokens and averaged, so
// drift on a shared machine shows; tokens without the database are measured too, to tell encoding from recording. DATABASE_URL: PostgreSQL (a fresh database, dropped after), else PGlite.
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
import { measureThroughput, SessionPool } from '../hsm/index.ts';
import { makeChain } from '../test/http/fixture.ts';
import { freshDatabase } from '../test/support/database.ts';
import { identityOf, tsaCredentials } from '../test/tsa/support.ts';
import { idleShare, machineTicks, processesCpuMs, procStat } from './proc-cpu.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
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
  pipelineDepth: Number(process.env.BENCH_DEPTH ?? 16),
  queueLimit: 100_000,
  deadlineMs: 30_000,
  keyHandles: 'session-copy',
});
try {
  await migrateLatest(db.knex);
  const identity = identityOf(pool, await tsaCredentials(chain, pool), chain);
  const store = new TimestampStore(db.knex);
  const recorder = new GroupCommit<TimestampRecord>((rows) => store.insertMany(rows), {
    delayMs: Number(process.env.BENCH_COMMIT_DELAY ?? 5),
    maxBatch: 500,
    maxConcurrent: Number(process.env.BENCH_COMMIT_CONCURRENCY ?? 1),
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
  const opts = { seconds: SECONDS, concurrency: CONCURRENCY, warmupSeconds: 1 };
  // How much of the machine stayed idle while measuring (warm-up included): a phase that leaves cores idle is bound
  // by waiting (for commits, say), not by CPU, and more callers would raise it.
  const idle = new Map<string, number>();
  // CPU per operation, this process (all threads) and PostgreSQL's processes on this machine: steadier than
  // operations/s on a shared machine, where a neighbour's burst moves a 5 s rate by ±10%.
  const cpu = new Map<string, { self: number; pg: number }>();
  const postgresMs = () => processesCpuMs('postgres');
  const measure = async (name: string, op: () => Promise<unknown>) => {
    const t0 = machineTicks();
    const self0 = procStat('self')!.cpuMs;
    const pg0 = postgresMs();
    const r = await measureThroughput(op, opts);
    idle.set(name, idleShare(t0, machineTicks()));
    // The warm-up second ran at about the same rate: count it in, since its CPU is in the readings.
    const ops = r.perSecond * (opts.seconds + opts.warmupSeconds);
    cpu.set(name, { self: ((procStat('self')!.cpuMs - self0) * 1000) / ops, pg: ((postgresMs() - pg0) * 1000) / ops });
    return r;
  };
  const raw1 = await measure('raw1', () => identity.signer.sign(data));
  const tokens = await measure('recorded', async () => {
    const a = await tsa.respond(request);
    if (!a.granted) throw new Error(`refused: ${a.failInfo}`);
  });
  // The same without the database: what parsing, encoding and signing cost, apart from recording.
  const unrecordedTsa = new TsaService({
    identity: () => identity,
    policies: ['1.3.6.1.4.1.99999.3161.1'],
    accuracyMs: 1000,
    clock: () => new Date(),
    clockOk: () => true,
    serials: new SerialAllocator((n) => store.reserveSerials(n), 500),
    recorder: { record: async () => undefined },
  });
  const unrecorded = await measure('unrecorded', async () => {
    const a = await unrecordedTsa.respond(request);
    if (!a.granted) throw new Error(`refused: ${a.failInfo}`);
  });
  const raw2 = await measure('raw2', () => identity.signer.sign(data));
  const raw = (raw1.perSecond + raw2.perSecond) / 2;
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  console.log(`bench:tsa — SoftHSM2 ${identity.signer.keyType}, ${WORKERS} pool workers, ${availableParallelism()} CPUs, concurrency ${CONCURRENCY}, ${SECONDS}s per cell, ${db.url ? 'PostgreSQL' : 'PGlite'}, Node ${process.version}`);
  console.log('');
  // The last two columns of a phase's row: machine idle, and CPU per operation.
  const machineCells = (name: string) => {
    const c = cpu.get(name)!;
    return `${((idle.get(name) ?? 0) * 100).toFixed(0)}% | ${c.self.toFixed(0)} + ${c.pg.toFixed(0)}`;
  };
  console.log('| | per second | p50 ms | p99 ms | errors | machine idle | CPU µs per op: this process + PostgreSQL |');
  console.log('|---|---|---|---|---|---|---|');
  console.log(`| raw HSM signatures (before) | ${fmt(raw1.perSecond)} | ${raw1.p50ms.toFixed(2)} | ${raw1.p99ms.toFixed(2)} | ${raw1.errors} | ${machineCells('raw1')} |`);
  console.log(`| time-stamp tokens, recorded | ${fmt(tokens.perSecond)} | ${tokens.p50ms.toFixed(2)} | ${tokens.p99ms.toFixed(2)} | ${tokens.errors} | ${machineCells('recorded')} |`);
  console.log(`| time-stamp tokens, not recorded | ${fmt(unrecorded.perSecond)} | ${unrecorded.p50ms.toFixed(2)} | ${unrecorded.p99ms.toFixed(2)} | ${unrecorded.errors} | ${machineCells('unrecorded')} |`);
  console.log(`| raw HSM signatures (after) | ${fmt(raw2.perSecond)} | ${raw2.p50ms.toFixed(2)} | ${raw2.p99ms.toFixed(2)} | ${raw2.errors} | ${machineCells('raw2')} |`);
  console.log('');
  console.log(`recorded tokens ÷ raw: ${((tokens.perSecond / raw) * 100).toFixed(0)}% (goal ≥ 70%); not recorded ÷ raw: ${((unrecorded.perSecond / raw) * 100).toFixed(0)}%; ${(recorder.stats.rows / Math.max(1, recorder.stats.flushes)).toFixed(1)} tokens per INSERT over ${fmt(recorder.stats.flushes)} flushes`);
} finally {
  await pool.close();
  await db.drop();
  rmSync(root, { recursive: true, force: true });
}
