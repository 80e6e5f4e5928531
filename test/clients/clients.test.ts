// API clients: tokens shown once and stored only as a SHA-256, strict grants, authentication that answers
// "nobody" alike for every kind of bad token, audit entries — through the service and through the CLI.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, verifyAudit } from '../../ca/audit/index.ts';
import { main } from '../../ca/cli/main.ts';
import { ClientError, ClientService, TOKEN_PATTERN, tokenHash } from '../../ca/clients/index.ts';
import { ClientStore } from '../../ca/db/client-store.ts';
import { migrateLatest } from '../../ca/db/migrate.ts';
import { leafProfiles } from '../../ca/issuance/leaf-profiles.ts';
import { loadProfiles } from '../../ca/profiles/index.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

describe('ClientService', () => {
  let db: TestDatabase;
  let service: ClientService;
  let now = new Date();

  beforeAll(async () => {
    db = await freshDatabase();
    await migrateLatest(db.knex);
    service = new ClientService({
      store: new ClientStore(db.knex),
      audit: new AuditLog(db.knex),
      profiles: leafProfiles(loadProfiles('profiles')),
      clock: () => now,
      random: (n) => new Uint8Array(randomBytes(n)),
    });
  });
  afterAll(async () => db?.drop());

  it('add: a 256-bit token shown once, stored only as its SHA-256, the addition audited', async () => {
    const { client, token } = await service.add({ name: 'build-bot', grants: { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } } }, 'operator:test');
    expect(token).toMatch(TOKEN_PATTERN);
    expect(Buffer.from(token.slice(3), 'base64url')).toHaveLength(32);
    expect(client.grants).toMatchObject({ profiles: ['tls-server'], admin: false });
    const row = await db.knex('api_clients').where({ name: 'build-bot' }).first();
    expect(row.token_hash).toBe(createHash('sha256').update(token).digest('hex'));
    const everything = JSON.stringify(await db.knex('api_clients').select('*')) + JSON.stringify(await db.knex('audit_log').select('*'));
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(token.slice(3, 20));
    const audit = await db.knex('audit_log').where({ action: 'client.add' }).first();
    expect(audit).toMatchObject({ actor: 'operator:test', subject: 'build-bot', details: { grants: { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] }, admin: false } } });
    const again = await service.add({ name: 'build-bot-2', grants: { profiles: ['tls-server'] } }, 'operator:test');
    expect(again.token).not.toBe(token);
  });

  it('authenticate: the client and its grant; undefined for missing, malformed, unknown, revoked and expired tokens', async () => {
    const { token } = await service.add({ name: 'svc-a', grants: { profiles: ['tls-server', 'tls-client'], names: { dns: ['*.a.internal'], ip: ['10.1.0.0/16'] } } }, 'op');
    const me = await service.authenticate(token);
    expect(me).toMatchObject({ name: 'svc-a', profiles: ['tls-server', 'tls-client'], admin: false });
    expect(me!.rules[0]!.source).toBe('grant svc-a');
    expect(me!.rules[0]!.rules.dns).toHaveLength(1);
    expect(await service.authenticate(undefined)).toBeUndefined();
    expect(await service.authenticate('')).toBeUndefined();
    expect(await service.authenticate(token.slice(0, -1))).toBeUndefined();
    expect(await service.authenticate(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(await service.authenticate(tokenHash(token))).toBeUndefined();

    const { token: soon } = await service.add({ name: 'short-lived', grants: { profiles: ['tls-server'], expiresAt: new Date(now.getTime() + 60_000).toISOString() } }, 'op');
    expect(await service.authenticate(soon)).toBeDefined();
    now = new Date(now.getTime() + 120_000);
    expect(await service.authenticate(soon)).toBeUndefined();

    expect(await service.revoke('svc-a', 'op')).toBe(true);
    expect(await service.authenticate(token)).toBeUndefined();
    expect(await service.revoke('svc-a', 'op')).toBe(false);
    expect(await db.knex('audit_log').where({ action: 'client.revoke', subject: 'svc-a' })).toHaveLength(1);
    await expect(service.revoke('nobody', 'op')).rejects.toThrow(ClientError);
  });

  it('concurrent authentications share one query, and each gets its own answer', async () => {
    const { token: a } = await service.add({ name: 'batch-a', grants: { profiles: ['tls-server'] } }, 'op');
    const { token: b } = await service.add({ name: 'batch-b', grants: { profiles: ['tls-client'] } }, 'op');
    const { token: gone } = await service.add({ name: 'batch-gone', grants: { profiles: ['tls-server'] } }, 'op');
    await service.revoke('batch-gone', 'op');
    const unknown = `${a.slice(0, -1)}${a.endsWith('A') ? 'B' : 'A'}`;
    const queries: string[] = [];
    const onQuery = (q: { sql: string }) => queries.push(q.sql);
    db.knex.on('query', onQuery);
    try {
      const answers = await Promise.all([a, unknown, b, gone, a, b].map((t) => service.authenticate(t)));
      expect(answers.map((c) => c?.name)).toEqual(['batch-a', undefined, 'batch-b', undefined, 'batch-a', 'batch-b']);
      expect(answers[2]!.profiles).toEqual(['tls-client']);
    } finally {
      db.knex.off('query', onQuery);
    }
    expect(queries.filter((q) => q.includes('api_clients'))).toHaveLength(1);
  });

  it('a stored grant that no longer validates authenticates as nobody (a hand-edited row never widens anything)', async () => {
    const { token } = await service.add({ name: 'edited', grants: { profiles: ['tls-server'] } }, 'op');
    // Validated grants are kept by their content: the row's valid grant is known before it is edited.
    expect((await service.authenticate(token))?.profiles).toEqual(['tls-server']);
    await db.knex('api_clients').where({ name: 'edited' }).update({ grants: JSON.stringify({ profiles: ['tls-server'], names: {}, admin: false, everything: true }) });
    expect(await service.authenticate(token)).toBeUndefined();
    expect((await service.list()).find((c) => c.name === 'edited')!.grantsProblem).toMatch(/everything/);
  });

  it.each([
    ['an unknown profile', { profiles: ['no-such'] }, /no leaf profile named "no-such"/],
    ['a CA profile', { profiles: ['issuing-ca'] }, /no leaf profile named "issuing-ca"/],
    ['no profile and not admin', { profiles: [] }, /at least one profile/],
    ['a bad DNS pattern', { profiles: ['tls-server'], names: { dns: ['*.*.svc.internal'] } }, /names\.dns\[0\]/],
    ['a CIDR with host bits', { profiles: ['tls-server'], names: { ip: ['10.0.0.1/8'] } }, /names\.ip\[0\]/],
    ['an unknown name type', { profiles: ['tls-server'], names: { dsn: ['a'] } }, /names/],
    ['an unknown grant key', { profiles: ['tls-server'], superuser: true }, /superuser|Unrecognized/i],
    ['a profile twice', { profiles: ['tls-server', 'tls-server'] }, /twice/],
    ['an expiry in the past', { profiles: ['tls-server'], expiresAt: '2020-01-01T00:00:00Z' }, /past/],
  ])('add refuses %s', async (_what, grants, message) => {
    const err = await service.add({ name: 'refused', grants: grants as never }, 'op').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as Error).message).toMatch(message);
    expect(await db.knex('api_clients').where({ name: 'refused' })).toHaveLength(0);
  });

  it('add refuses a bad name and a taken name', async () => {
    await expect(service.add({ name: 'has space', grants: { profiles: ['tls-server'] } }, 'op')).rejects.toThrow(/client name/);
    await expect(service.add({ name: 'build-bot', grants: { profiles: ['tls-server'] } }, 'op')).rejects.toMatchObject({ code: 'exists' });
    expect((await verifyAudit(db.knex)).ok).toBe(true);
  });
});

describe('strongroom client', () => {
  let db: TestDatabase;
  let dir: string;
  let env: Record<string, string | undefined>;

  async function cli(argv: string[]) {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    const out: string[] = [];
    const err: string[] = [];
    try {
      const code = await main(argv, (l) => out.push(l), (l) => err.push(l));
      return { code, out: out.join('\n'), err: err.join('\n') };
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  }

  beforeAll(async () => {
    db = await freshDatabase();
    if (db.dataDir) await db.knex.destroy(); // the embedded database: one user at a time, the CLI opens it
    dir = mkdtempSync(join(tmpdir(), 'strongroom-client-cli-'));
    env = { DATABASE_URL: db.url, STRONGROOM_DATA_DIR: db.dataDir ?? dir };
  });
  afterAll(async () => {
    await db?.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('add prints the token once, on stdout alone; list shows the grant; revoke stops it', async () => {
    const add = await cli(['client', 'add', '--name', 'build-bot', '--profile', 'tls-server', '--profile', 'tls-client', '--dns', '*.svc.internal', '--ip', '10.0.0.0/8', '--uri', 'spiffe://strongroom.internal/']);
    expect(add.code).toBe(0);
    expect(add.out).toMatch(/^sr_[A-Za-z0-9_-]{43}$/);
    expect(add.err).toMatch(/shown only this once/);
    expect(add.err).not.toContain(add.out);

    const list = await cli(['client', 'list', '--json']);
    expect(list.code).toBe(0);
    const [c] = JSON.parse(list.out) as Record<string, unknown>[];
    expect(c).toMatchObject({ name: 'build-bot', state: 'active', profiles: ['tls-server', 'tls-client'], names: { dns: ['*.svc.internal'], ip: ['10.0.0.0/8'], uri: ['spiffe://strongroom.internal/'] }, admin: false, revokedAt: null });
    expect(list.out).not.toContain(add.out);
    expect((await cli(['client', 'list'])).out).toMatch(/^active\s+build-bot\s+tls-server,tls-client\s+dns:\*\.svc\.internal ip:10\.0\.0\.0\/8/);

    expect(await cli(['client', 'revoke', 'build-bot'])).toMatchObject({ code: 0, out: 'client "build-bot" revoked' });
    expect(await cli(['client', 'revoke', 'build-bot'])).toMatchObject({ code: 0, out: 'client "build-bot" was revoked already' });
    expect(JSON.parse((await cli(['client', 'list', '--json'])).out)[0].state).toBe('revoked');
  });

  it.each([
    [['client', 'add', '--name', 'x', '--profile', 'tls-server', '--dns', '*.*.svc.internal'], /names\.dns\[0\]/],
    [['client', 'add', '--name', 'x'], /at least one --profile/],
    [['client', 'add', '--name', 'x', '--profile', 'issuing-ca'], /no leaf profile named "issuing-ca"/],
    [['client', 'add', '--profile', 'tls-server'], /needs --name/],
    [['client', 'add', '--name', 'x', '--profile', 'tls-server', '--bogus'], /Unknown option/],
    [['client', 'add', '--name', 'x', '--profile', 'tls-server', '--expires-days', 'soon'], /--expires-days/],
    [['client', 'revoke', 'nobody'], /no client named "nobody"/],
    [['client', 'frobnicate'], /unknown client command/],
  ])('%j → exit 2', async (argv, message) => {
    const r = await cli(argv);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
  });
});
