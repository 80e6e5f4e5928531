/**
 * `strongroom dev` (what `npm start` runs): the quick start. DEV ONLY — PINs in 0600 files and ceremony shares on
 * disk are conveniences a production CA never gets. Creates var/ with two SoftHSM2 tokens (root and online), runs
 * the root and intermediate ceremonies non-interactively, imports the issuing CA, creates a dev client, writes
 * var/root.pem, then serves the CA on http://127.0.0.1:$PORT. A second start reuses var/.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AuditLog } from '../audit/index.ts';
import { ClientService } from '../clients/client-service.ts';
import { AuthorityStore } from '../db/authority-store.ts';
import { ClientStore } from '../db/client-store.ts';
import { databaseUrlFromEnv, openDatabase } from '../db/connect.ts';
import { migrateLatest } from '../db/migrate.ts';
import { DEV_ISSUER, DEV_ONLINE_TOKEN, setupDevPki } from '../dev/dev-setup.ts';
import { leafProfiles } from '../issuance/leaf-profiles.ts';
import { loadProfiles } from '../profiles/index.ts';
import { EXIT, UsageError } from './cli-error.ts';
import { dataDirOf } from './hsm-options.ts';
import { serveCommand } from './serve-command.ts';

export const DEV_TOKEN = DEV_ONLINE_TOKEN;

function secretFile(path: string): string {
  if (!existsSync(path)) writeFileSync(path, randomBytes(12).toString('hex'), { mode: 0o600, flag: 'wx' });
  return readFileSync(path, 'utf8').trim();
}

export async function devCommand(argv: string[], out: (line: string) => void, err: (line: string) => void = out, opts: { signal?: AbortSignal } = {}): Promise<number> {
  let flags: { 'data-dir'?: string; port?: string; 'no-serve'?: boolean };
  try {
    flags = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, port: { type: 'string' }, 'no-serve': { type: 'boolean' } }, strict: true }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const port = flags.port ?? process.env.PORT ?? '8080';
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65_535) throw new UsageError('the port is a number (PORT or --port)');
  const publicUrl = `http://127.0.0.1:${port === '0' ? '8080' : port}`;
  const varDir = dataDirOf(flags);
  const pinFile = join(varDir, 'dev-pin');
  // The data directory must exist before the PIN files; useSoftHsmDataDir (in setupDevPki) creates var/tokens.
  mkdirSync(varDir, { recursive: true, mode: 0o700 });
  const pin = secretFile(pinFile);
  const soPin = secretFile(join(varDir, 'dev-so-pin'));
  const devConfig = join(varDir, 'dev-config.json');

  const url = databaseUrlFromEnv();
  const db = await openDatabase({ ...(url ? { url } : {}), dataDir: varDir });
  try {
    const applied = await migrateLatest(db);
    out(`database ${url ? 'at DATABASE_URL' : `embedded in ${join(varDir, 'pgdata')}`}: ${applied.length ? `applied ${applied.length} migration(s)` : 'up to date'}`);
    const setup = await setupDevPki({ varDir, pin, soPin, publicUrl, store: new AuthorityStore(db), now: new Date(), out });
    out(`root certificate: ${setup.rootPem}`);
    // The dev server publishes the offline root's CRL and certificate where the issuing CA's certificate points, and
    // serves the time-stamp authority (off by default in a server's config), its certificate issued at start.
    writeFileSync(devConfig, `${JSON.stringify({ published: { '/crl/dev-root.crl': setup.rootCrl, '/ca/dev-root.crt': setup.rootPem }, tsa: { enabled: true } }, null, 2)}\n`);
    const tokenFile = join(varDir, 'dev-token');
    if (!existsSync(tokenFile)) {
      const clients = new ClientService({
        store: new ClientStore(db),
        audit: new AuditLog(db),
        profiles: leafProfiles(loadProfiles('profiles')),
        clock: () => new Date(),
        random: (n) => randomBytes(n),
      });
      const { token } = await clients.add({ name: 'dev', grants: { profiles: ['tls-server', 'tls-client'], names: { dns: ['*.dev.internal'] } } }, 'strongroom dev');
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600, flag: 'wx' });
      out(`created the dev client "dev" (tls-server, tls-client for *.dev.internal); its token is in ${tokenFile}`);
    }
  } finally {
    // The embedded database takes one process at a time: the server opens it next.
    await db.destroy();
  }

  const tryIt = [
    `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout svc.key -subj /CN=svc.dev.internal \\`,
    `  -addext subjectAltName=DNS:svc.dev.internal -out svc.csr`,
    `jq -n --rawfile csr svc.csr '{csr: $csr, profile: "tls-server"}' | curl -s ${publicUrl}/v1/certificates \\`,
    `  -H "Authorization: Bearer $(cat ${join(varDir, 'dev-token')})" -H 'Content-Type: application/json' -d @- | jq -r .certificate > svc.pem`,
    `curl -s ${publicUrl}/crl/${DEV_ISSUER}.crl -o issuing.crl && curl -s ${publicUrl}/ca/${DEV_ISSUER}.crt -o issuing.der`,
    `openssl x509 -inform der -in issuing.der -out issuing.pem`,
    `curl -s ${publicUrl}/crl/dev-root.crl -o root.crl`,
    `openssl verify -crl_check_all -CAfile ${join(varDir, 'root.pem')} -untrusted issuing.pem -CRLfile <(openssl crl -inform der -in issuing.crl) -CRLfile <(openssl crl -inform der -in root.crl) svc.pem`,
    `openssl ocsp -issuer issuing.pem -cert svc.pem -url ${publicUrl}/ocsp -CAfile ${join(varDir, 'root.pem')} -verify_other issuing.pem -resp_text`,
    `openssl ts -query -data svc.pem -sha256 -cert -out svc.tsq && curl -s ${publicUrl}/tsa -H 'Content-Type: application/timestamp-query' \\`,
    `  --data-binary @svc.tsq -o svc.tsr && openssl ts -verify -queryfile svc.tsq -in svc.tsr -CAfile ${join(varDir, 'root.pem')} -untrusted issuing.pem`,
  ];
  if (flags['no-serve']) {
    out('dev PKI ready (--no-serve): start it with npm start');
    return EXIT.ok;
  }
  out('');
  out('Try it (another terminal):');
  for (const l of tryIt) out(`  ${l}`);
  return serveCommand(
    ['--data-dir', varDir, '--token', DEV_ONLINE_TOKEN, '--pin-source', `file:${pinFile}`, '--port', port, '--public-url', publicUrl, '--config', devConfig],
    out,
    err,
    opts.signal ? { signal: opts.signal } : {},
  );
}
