/** `strongroom hsm …`: token and key management for operators, and a quick signing benchmark. */
import { parseArgs } from 'node:util';
import {
  initSoftToken,
  KEY_TYPES,
  measureThroughput,
  parsePinSource,
  Pkcs11KeyStore,
  PoolSigner,
  readPin,
  SessionPool,
  type KeyInfo,
  type KeyType,
} from '../../hsm/index.ts';
import { EXIT, UsageError } from './cli-error.ts';
import { hsmFlagSpec, pinFor, resolveHsmTarget, type HsmFlags } from './hsm-options.ts';
import { DEFAULT_PIPELINE_DEPTH } from '../../hsm/hsm-config.ts';

export const HSM_USAGE = `strongroom hsm <command> [options]
  init-token --token LABEL [--so-pin-source SRC]   initialise a SoftHSM2 dev/test token (user PIN from --pin-source)
  keys [--json]                                     list private keys with their protective attributes
  keygen --type TYPE --label LABEL [--backup-capable]
                                                    generate a key pair inside the token (${KEY_TYPES.join(', ')})
  bench --key URI [--workers 1,2,4] [--seconds 3]   signatures/s through the session pool
Common: --module PATH --token LABEL | --token-serial SERIAL --pin-source file:PATH|env:NAME|prompt --key pkcs11:URI
PINs are never taken from the command line.`;

type Out = (line: string) => void;

export async function hsmCommand(argv: string[], out: Out): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'init-token':
      return initToken(rest, out);
    case 'keys':
      return keys(rest, out);
    case 'keygen':
      return keygen(rest, out);
    case 'bench':
      return bench(rest, out);
    case undefined:
    case 'help':
    case '--help':
      out(HSM_USAGE);
      return sub === undefined ? EXIT.usage : EXIT.ok;
    default:
      throw new UsageError(`unknown hsm command "${sub}"\n${HSM_USAGE}`);
  }
}

function parse<T extends Record<string, { type: 'string' | 'boolean' }>>(argv: string[], extra: T) {
  try {
    return parseArgs({ args: argv, options: { ...hsmFlagSpec, ...extra }, strict: true, allowPositionals: false }).values as HsmFlags & {
      [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string;
    };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function initToken(argv: string[], out: Out): Promise<number> {
  const flags = parse(argv, { 'so-pin-source': { type: 'string' } });
  const target = resolveHsmTarget(flags);
  if (!target.token.label) throw new UsageError('init-token needs --token LABEL');
  const soSource = flags['so-pin-source'] ? parsePinSource(flags['so-pin-source']) : process.env.STRONGROOM_HSM_SO_PIN !== undefined ? { env: 'STRONGROOM_HSM_SO_PIN' } : { prompt: 'New SO PIN: ' };
  const soPin = await readPin(soSource);
  const userPin = await pinFor(target);
  const serial = initSoftToken({ module: target.module, label: target.token.label, soPin, userPin });
  out(`initialised token "${target.token.label}" (serial ${serial})`);
  return EXIT.ok;
}

function openStore(target: ReturnType<typeof resolveHsmTarget>, pin: string) {
  return Pkcs11KeyStore.open({ module: target.module, token: target.token, pin });
}

export function formatKeys(keys: KeyInfo[]): string[] {
  const flag = (b: boolean) => (b ? 'yes' : 'NO');
  const rows = keys.map((k) => [
    k.label,
    k.type,
    k.id,
    flag(k.protection.sensitive),
    k.protection.extractable ? 'YES' : 'no',
    flag(k.protection.local),
    flag(k.protection.alwaysSensitive),
    k.protection.neverExtractable ? 'yes' : k.protection.wrapWithTrusted ? 'trusted-wrap' : 'NO',
    k.spkiSha256?.slice(0, 16) ?? '-',
  ]);
  const head = ['LABEL', 'TYPE', 'ID', 'SENSITIVE', 'EXTRACTABLE', 'LOCAL', 'ALWAYS-SENS', 'NEVER-EXTR', 'SPKI-SHA256'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

async function keys(argv: string[], out: Out): Promise<number> {
  const flags = parse(argv, { json: { type: 'boolean' } });
  const target = resolveHsmTarget(flags);
  const store = openStore(target, await pinFor(target));
  try {
    const list = store.list();
    if (flags.json) out(JSON.stringify(list.map(({ spki, ...k }) => ({ ...k, spki: spki?.toString('base64') })), null, 2));
    else {
      const t = store.token();
      out(`token "${t.label}" serial ${t.serial} (${t.manufacturer} ${t.model})`);
      for (const line of formatKeys(list)) out(line);
    }
  } finally {
    store.close();
  }
  return EXIT.ok;
}

async function keygen(argv: string[], out: Out): Promise<number> {
  const flags = parse(argv, { type: { type: 'string' }, label: { type: 'string' }, 'backup-capable': { type: 'boolean' } });
  if (!flags.type || !(KEY_TYPES as readonly string[]).includes(flags.type)) throw new UsageError(`--type must be one of ${KEY_TYPES.join(', ')}`);
  if (!flags.label) throw new UsageError('--label is required');
  const target = resolveHsmTarget(flags);
  const store = openStore(target, await pinFor(target));
  try {
    const key = store.generate({ type: flags.type as KeyType, label: flags.label, backupCapable: flags['backup-capable'] === true });
    out(`generated ${key.type} "${key.label}" id ${key.id}`);
    out(`spki sha256 ${key.spkiSha256}`);
    out(`uri pkcs11:token=${encodeURIComponent(target.token.label ?? '')};object=${encodeURIComponent(key.label)}`);
    out(key.spki.length ? `-----BEGIN PUBLIC KEY-----\n${key.spki.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PUBLIC KEY-----` : '');
  } finally {
    store.close();
  }
  return EXIT.ok;
}

async function bench(argv: string[], out: Out): Promise<number> {
  const flags = parse(argv, { workers: { type: 'string' }, seconds: { type: 'string' }, concurrency: { type: 'string' } });
  const target = resolveHsmTarget(flags);
  if (!target.key) throw new UsageError('bench needs --key pkcs11:token=…;object=…');
  const sizes = (flags.workers ?? '1,2,4').split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new UsageError('--workers takes a list of 1 to 64');
  const seconds = Number(flags.seconds ?? 3);
  const pin = await pinFor(target);
  const store = openStore(target, pin);
  const pub = store.publicKey(target.key);
  store.close();
  for (const workers of sizes) {
    const pool = await SessionPool.open({
      primary: { name: 'primary', module: target.module, token: target.token, pin },
      workers,
      pipelineDepth: DEFAULT_PIPELINE_DEPTH,
      queueLimit: 100_000,
      deadlineMs: 10_000,
      keyHandles: 'session-copy',
    });
    try {
      const signer = new PoolSigner(pool, target.key, pub.keyType, pub.spki);
      const data = Buffer.alloc(256, 7);
      const r = await measureThroughput(() => signer.sign(data), { seconds, concurrency: Number(flags.concurrency ?? 16 * workers), warmupSeconds: 0.5 });
      out(`workers=${workers} ${pub.keyType} ${Math.round(r.perSecond)} signatures/s p50 ${r.p50ms.toFixed(2)} ms p99 ${r.p99ms.toFixed(2)} ms errors ${r.errors}`);
    } finally {
      await pool.close();
    }
  }
  return EXIT.ok;
}
