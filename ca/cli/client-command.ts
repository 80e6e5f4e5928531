/** `strongroom client …`: API clients — add (prints the token once), list, revoke. */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { AuditLog } from '../audit/index.ts';
import { ClientError, ClientService, type ClientInfo } from '../clients/index.ts';
import { AuthorityStore } from '../db/authority-store.ts';
import { ClientCertificateNotBindable, ClientCertificateStore } from '../db/client-certificate-store.ts';
import { ClientStore } from '../db/client-store.ts';
import { databaseUrlFromEnv, openDatabase } from '../db/connect.ts';
import { migrateLatest } from '../db/migrate.ts';
import { leafProfiles } from '../issuance/leaf-profiles.ts';
import { loadProfiles } from '../profiles/index.ts';
import { EXIT, UsageError } from './cli-error.ts';
import { dataDirOf } from './hsm-options.ts';

export const CLIENT_USAGE = `strongroom client <command>
  add --name NAME --profile PROFILE [--profile …] [--dns PATTERN …] [--ip CIDR …] [--uri PREFIX …] [--email DOMAIN …]
      [--admin] [--expires-days N]
        create an API client; its bearer token is printed once, on stdout (only its SHA-256 is stored).
        Every name it requests must match one of its rules AND the profile's (deny by default: without rules of a
        type, no name of that type). --admin: may read and revoke every certificate.
  list [--json]       clients, their grants and state
  revoke NAME         the client's token stops working at once
  bind-cert NAME --serial HEX [--ca CA]
        an issued tls-client certificate (of the active issuer, or CA) authenticates NAME over HTTPS with client
        certificates (config https.clientAuth), like its token; it stops when the certificate is revoked or expires
Common: --data-dir DIR, --profiles DIR (default profiles). Database: DATABASE_URL, else the embedded database.`;

type Out = (line: string) => void;

const common = { 'data-dir': { type: 'string' }, profiles: { type: 'string' } } as const;

function parse<T extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>>(argv: string[], extra: T) {
  try {
    return parseArgs({ args: argv, options: { ...common, ...extra }, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function operator(): string {
  try {
    return `operator:${userInfo().username}`;
  } catch {
    return 'operator';
  }
}

async function withService<T>(flags: { 'data-dir'?: string; profiles?: string }, fn: (service: ClientService) => Promise<T>): Promise<T> {
  const profiles = leafProfiles(loadProfiles(flags.profiles ?? 'profiles'));
  const url = databaseUrlFromEnv();
  const db = await openDatabase({ ...(url ? { url } : {}), dataDir: dataDirOf(flags) });
  try {
    await migrateLatest(db);
    const service = new ClientService({ store: new ClientStore(db), audit: new AuditLog(db), profiles, clock: () => new Date(), random: (n) => new Uint8Array(randomBytes(n)) });
    return await fn(service);
  } catch (e) {
    if (e instanceof ClientError) throw new UsageError(e.message);
    throw e;
  } finally {
    await db.destroy();
  }
}

function state(c: ClientInfo, now: Date): string {
  if (c.revokedAt) return 'revoked';
  if (!c.grants) return 'invalid';
  if (c.grants.expiresAt && c.grants.expiresAt <= now) return 'expired';
  return 'active';
}

export async function clientCommand(argv: string[], out: Out, err: Out = out): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'add': {
      const { values, positionals } = parse(rest, {
        name: { type: 'string' },
        profile: { type: 'string', multiple: true },
        dns: { type: 'string', multiple: true },
        ip: { type: 'string', multiple: true },
        uri: { type: 'string', multiple: true },
        email: { type: 'string', multiple: true },
        admin: { type: 'boolean' },
        'expires-days': { type: 'string' },
      });
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"\n${CLIENT_USAGE}`);
      if (!values.name) throw new UsageError(`add needs --name\n${CLIENT_USAGE}`);
      if (!values.profile?.length && !values.admin) throw new UsageError(`add needs at least one --profile (or --admin)\n${CLIENT_USAGE}`);
      let expiresAt: string | undefined;
      if (values['expires-days'] !== undefined) {
        const days = Number(values['expires-days']);
        if (!/^\d{1,5}$/.test(values['expires-days']) || days < 1) throw new UsageError('--expires-days takes a whole number of days ≥ 1');
        expiresAt = new Date(Date.now() + days * 86_400_000).toISOString();
      }
      const names = Object.fromEntries((['dns', 'ip', 'uri', 'email'] as const).filter((t) => values[t]?.length).map((t) => [t, values[t]!]));
      const { client, token } = await withService(values, (s) =>
        s.add({ name: values.name!, grants: { profiles: values.profile ?? [], names, admin: values.admin === true, ...(expiresAt ? { expiresAt } : {}) } }, operator()),
      );
      out(token);
      err(`strongroom: client "${client.name}" created (profiles: ${client.grants?.profiles.join(', ') || 'none'}${client.grants?.admin ? '; admin' : ''}). The token above is shown only this once: store it now.`);
      return EXIT.ok;
    }
    case 'list': {
      const { values } = parse(rest, { json: { type: 'boolean' } });
      const clients = await withService(values, (s) => s.list());
      const now = new Date();
      if (values.json) {
        out(
          JSON.stringify(
            clients.map((c) => ({
              name: c.name,
              state: state(c, now),
              profiles: c.grants?.profiles ?? [],
              names: c.grants?.names ?? {},
              admin: c.grants?.admin ?? false,
              expiresAt: c.grants?.expiresAt?.toISOString() ?? null,
              createdAt: c.createdAt.toISOString(),
              revokedAt: c.revokedAt?.toISOString() ?? null,
              ...(c.grantsProblem ? { problem: c.grantsProblem } : {}),
            })),
            null,
            2,
          ),
        );
        return EXIT.ok;
      }
      if (clients.length === 0) out('no clients yet: strongroom client add --name NAME --profile PROFILE --dns PATTERN');
      for (const c of clients) {
        const names = c.grants ? Object.entries(c.grants.names).flatMap(([t, l]) => (l ?? []).map((n) => `${t}:${n}`)) : [];
        out(`${state(c, now).padEnd(8)} ${c.name.padEnd(20)} ${(c.grants?.profiles.join(',') || '-').padEnd(24)} ${c.grants?.admin ? 'admin ' : ''}${names.join(' ') || '(no names)'}${c.grantsProblem ? `  grants invalid: ${c.grantsProblem}` : ''}`);
      }
      return EXIT.ok;
    }
    case 'revoke': {
      const { values, positionals } = parse(rest, {});
      const name = positionals[0];
      if (!name || positionals.length !== 1) throw new UsageError('revoke takes one client name');
      const revoked = await withService(values, (s) => s.revoke(name, operator()));
      out(revoked ? `client "${name}" revoked` : `client "${name}" was revoked already`);
      return EXIT.ok;
    }
    case 'bind-cert': {
      const { values, positionals } = parse(rest, { serial: { type: 'string' }, ca: { type: 'string' } });
      const name = positionals[0];
      if (!name || positionals.length !== 1 || !values.serial) throw new UsageError(`bind-cert takes one client name and --serial\n${CLIENT_USAGE}`);
      const serial = values.serial.toLowerCase().replace(/^0+(?=.)/, '');
      const url = databaseUrlFromEnv();
      const db = await openDatabase({ ...(url ? { url } : {}), dataDir: dataDirOf(values) });
      try {
        await migrateLatest(db);
        const client = await new ClientStore(db).byName(name);
        if (!client) throw new UsageError(`no client "${name}"`);
        const authorities = new AuthorityStore(db);
        const ca = values.ca ? await authorities.byName(values.ca) : await authorities.active();
        if (!ca) throw new UsageError(values.ca ? `no issuing CA "${values.ca}"` : 'no active issuing CA; name one with --ca');
        const audit = new AuditLog(db);
        await new ClientCertificateStore(db).bind(client.id, ca.id, serial, operator(), async (trx) => {
          await audit.append({ actor: operator(), action: 'client.certificate.bind', subject: name, details: { ca: ca.name, serial } }, trx);
        });
      } catch (e) {
        if (e instanceof ClientCertificateNotBindable) throw new UsageError(e.message);
        throw e;
      } finally {
        await db.destroy();
      }
      out(`certificate ${serial} now authenticates client "${name}" over HTTPS`);
      return EXIT.ok;
    }
    case undefined:
    case 'help':
    case '--help':
      out(CLIENT_USAGE);
      return sub === undefined ? EXIT.usage : EXIT.ok;
    default:
      throw new UsageError(`unknown client command "${sub}"\n${CLIENT_USAGE}`);
  }
}
