/** `strongroom serve`: the online CA — enrollment API, CRLs, CA certificates, health and metrics — until SIGINT/SIGTERM. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createCaServer } from '../server/index.ts';
import { databaseUrlFromEnv } from '../db/connect.ts';
import { EXIT, UsageError } from './cli-error.ts';
import { hsmFlagSpec, pinFor, resolveHsmTarget, type HsmFlags } from './hsm-options.ts';

export const SERVE_USAGE = `strongroom serve [--port 8080] [--host 127.0.0.1] [--public-url http://127.0.0.1:8080] [--config FILE.json]
  Serves the CA API (POST /v1/certificates, GET /v1/certificates/SERIAL, POST …/revoke), CRLs (/crl/CA.crl), CA
  certificates (/ca/CA.crt), /healthz, /readyz and /metrics. --config takes the full configuration as JSON (see
  ca/server/config.ts); flags override it. The HSM token and PIN come from --module/--token/--token-serial/--pin-source
  or STRONGROOM_HSM_* as for every command; the database from DATABASE_URL, else the embedded one in --data-dir.
  Stops cleanly on SIGINT or SIGTERM.
strongroom serve ocsp …   a standalone OCSP responder (strongroom serve ocsp --help).`;

type Out = (line: string) => void;

export interface ServeOptions {
  /** Stops the server when aborted (tests); otherwise SIGINT/SIGTERM do. */
  signal?: AbortSignal;
}

export async function serveCommand(argv: string[], out: Out, err: Out = out, opts: ServeOptions = {}): Promise<number> {
  if (argv[0] === 'ocsp') return (await import('./serve-ocsp-command.ts')).serveOcspCommand(argv.slice(1), out, err, opts);
  let values: HsmFlags & { port?: string; host?: string; 'public-url'?: string; config?: string; profiles?: string; help?: boolean };
  try {
    values = parseArgs({
      args: argv,
      options: { ...hsmFlagSpec, port: { type: 'string' }, host: { type: 'string' }, 'public-url': { type: 'string' }, config: { type: 'string' }, profiles: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${SERVE_USAGE}`);
  }
  if (values.help) {
    out(SERVE_USAGE);
    return EXIT.ok;
  }
  let fileConfig: Record<string, unknown> = {};
  if (values.config) {
    try {
      fileConfig = JSON.parse(readFileSync(values.config, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`--config ${values.config}: ${(e as Error).message}`);
    }
    if (typeof fileConfig !== 'object' || fileConfig === null || Array.isArray(fileConfig)) throw new UsageError(`--config ${values.config}: expected a JSON object`);
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d{1,5}$/.test(values.port) || port > 65_535) throw new UsageError('--port takes a port number (0 for any free port)');
  }
  const target = resolveHsmTarget(values);
  const pin = await pinFor(target);
  const fileHttp = (fileConfig.http ?? {}) as Record<string, unknown>;
  const fileHsm = (fileConfig.hsm ?? {}) as Record<string, unknown>;
  const databaseUrl = databaseUrlFromEnv();
  const httpPort = port ?? (fileHttp.port as number | undefined) ?? 8080;
  const host = values.host ?? (fileHttp.host as string | undefined) ?? '127.0.0.1';
  const config = {
    ...fileConfig,
    ...(values['data-dir'] !== undefined || fileConfig.dataDir === undefined ? { dataDir: target.dataDir } : {}),
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(values.profiles ? { profilesDir: values.profiles } : {}),
    publicUrl: values['public-url'] ?? (fileConfig.publicUrl as string | undefined) ?? `http://${host.includes(':') ? `[${host}]` : host}:${httpPort === 0 ? 8080 : httpPort}`,
    http: { ...fileHttp, host, port: httpPort },
    hsm: { ...fileHsm, module: target.module, token: target.token, pin: target.pinSource },
  };

  const ca = await createCaServer({ config, pin });
  const listening = await ca.listen();
  out(`strongroom: serving on ${listening.url} (certificates point to ${ca.config.publicUrl}); issuers: ${ca.issuers.all().map((i) => `${i.row.name} (${i.row.status})`).join(', ') || 'none — import one with strongroom ca import'}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    opts.signal?.addEventListener('abort', stop, { once: true });
  });
  err('strongroom: stopping');
  await ca.close();
  return EXIT.ok;
}
