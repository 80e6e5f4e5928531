// npm run bench:hsm — signatures/s through the session pool at sizes 1, 2, 4, next to what the machine can do in
// the same run: two separate processes with one session each (the physical limit on 2 cores) and Node's
// in-process crypto.sign with a software key. Ratios, not absolute numbers, are what compare across machines.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initSoftToken, measureThroughput, Pkcs11KeyStore, PoolSigner, SessionPool, SOFTHSM_MODULE, type KeyType } from '../hsm/index.ts';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const SIZES = (process.env.BENCH_SIZES ?? '1,2,4').split(',').map(Number);
const PROCESSES = availableParallelism();

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

async function processes(keyLabel: string, mode: 'token' | 'session-copy'): Promise<number> {
  const startAt = Date.now() + 1500;
  const results = await Promise.all(
    Array.from({ length: PROCESSES }, () =>
      run(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'sign-loop.ts'), SOFTHSM_MODULE, label, keyLabel, String(SECONDS), String(startAt), mode], {
        env: { ...process.env, BENCH_PIN: pin },
      }),
    ),
  );
  return results.reduce((sum, r) => {
    const j = JSON.parse(r.stdout) as { ops: number; seconds: number };
    return sum + j.ops / j.seconds;
  }, 0);
}

async function pool(keyLabel: string, workers: number, keyHandles: 'token' | 'session-copy'): Promise<number> {
  const p = await SessionPool.open({
    primary: { name: 'primary', module: SOFTHSM_MODULE, token: { label }, pin },
    workers,
    pipelineDepth: Number(process.env.BENCH_DEPTH ?? 16),
    queueLimit: 100_000,
    deadlineMs: 30_000,
    keyHandles,
  });
  try {
    const pub = store.publicKey({ label: keyLabel });
    const signer = new PoolSigner(p, { label: keyLabel }, pub.keyType, pub.spki);
    const data = Buffer.alloc(256, 7);
    const r = await measureThroughput(() => signer.sign(data), { seconds: SECONDS, concurrency: 64, warmupSeconds: 0.5 });
    if (r.errors) throw new Error(`${r.errors} signing errors`);
    return r.perSecond;
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
const lines: string[] = [];
console.log(`bench:hsm — SoftHSM2, ${availableParallelism()} CPUs, ${SECONDS}s per cell, Node ${process.version}`);
for (const k of keys) {
  const node = nodeSign(k);
  const procToken = await processes(k.label, 'token');
  const procCopy = await processes(k.label, 'session-copy');
  const sizes: [number, number][] = [];
  for (const w of SIZES) sizes.push([w, await pool(k.label, w, 'session-copy')]);
  const tokenHandles = await pool(k.label, PROCESSES, 'token');
  const best = Math.max(...sizes.map(([, r]) => r));
  lines.push(`| ${k.type} | ${sizes.map(([w, r]) => `${w}: ${fmt(r)}`).join(' · ')} | ${fmt(tokenHandles)} | ${fmt(procToken)} | ${fmt(procCopy)} | ${fmt(node)} | ${((best / procToken) * 100).toFixed(0)}% | ${((best / procCopy) * 100).toFixed(0)}% | ${(best / node).toFixed(2)} |`);
  console.log(lines.at(-1));
}
console.log('');
console.log('| key | pool (session-copy handles), workers: sig/s | pool, token handles, ' + PROCESSES + ' workers | ' + PROCESSES + ' processes, token handles | ' + PROCESSES + ' processes, session copies | Node crypto.sign, 1 core | best pool ÷ processes (token) | best pool ÷ processes (copies) | best pool ÷ Node |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const l of lines) console.log(l);
store.close();
rmSync(root, { recursive: true, force: true });
