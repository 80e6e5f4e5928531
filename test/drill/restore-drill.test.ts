// `strongroom drill restore` end to end on SoftHSM2: a root key made and backed up by the docs' ceremonies (as in
// test/ceremony), then restored into a scratch token with M of N KEK share files, checked, used and destroyed, and
// recorded in the audit log; and every way a drill can fail, each recorded as failed, leaving the scratch token empty.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../ca/audit/index.ts';
import { openDatabase } from '../../ca/db/connect.ts';
import { migrateLatest } from '../../ca/db/migrate.ts';
import { DrillRecordStore } from '../../ca/drill/db/drill-record-store.ts';
import { runRestoreDrill } from '../../ca/drill/restore-drill.ts';
import { Pkcs11KeyStore } from '../../hsm/key-store.ts';
import { SOFTHSM_MODULE } from '../../hsm/soft-token.ts';
import { cli, docYaml, keyCount, shareArgs, workspace, write, writeShares } from '../ceremony/ceremony-support.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { createTestToken, type TestToken } from '../support/token.ts';

const W = workspace('drill');
const f = (name: string) => join(W, name);
let root: TestToken;
let scratch: TestToken;
let db: TestDatabase | undefined;
let dbEnv: Record<string, string | undefined>;
let dbArgs: string[];
/** The audit log, read through a connection of its own (PGlite: only while no command has it open). */
let withDb: <T>(fn: (knex: Knex) => Promise<T>) => Promise<T>;
let backupTime: string;
let backupSpki: string;

const kekFiles = (dir: string, who: string[]) => who.flatMap((c) => ['--kek-share-file', `${c}=${join(dir, `${c}.kek.share`)}`]);

function drill(args: string[], opts: { backups?: string; scratchToken?: string; pinFile?: string } = {}) {
  return cli(['drill', 'restore', '--backup-dir', opts.backups ?? f('backups'), '--scratch-token', opts.scratchToken ?? scratch.label, '--scratch-pin-source', `file:${opts.pinFile ?? f('scratch.pin')}`, ...dbArgs, ...args], {
    ...dbEnv,
    STRONGROOM_HSM_PIN: undefined,
    STRONGROOM_HSM_PIN_SOURCE: undefined,
  });
}

const drillEntries = () => withDb(async (k) => (await k('audit_log').where({ action: 'drill.restore' }).orderBy('seq')).map((r: { actor: string; subject: string; details: Record<string, unknown> }) => r));

beforeAll(async () => {
  root = createTestToken('drill-root');
  scratch = createTestToken('drill-scratch');
  write(W, 'root.so-pin', root.soPin, 0o600);
  write(W, 'scratch.pin', scratch.pin, 0o600);
  write(W, 'wrong.pin', `${scratch.pin}x`, 0o600);
  mkdirSync(f('shares'));
  const shares = await writeShares(f('shares'), root.pin, root.label);
  const yes = [...shareArgs(shares), '--yes'];
  const env = { STRONGROOM_HSM_PIN: undefined, STRONGROOM_HSM_PIN_SOURCE: undefined };
  const ceremony = async (name: string, yaml: string, args: string[]) => {
    const r = await cli(['ceremony', 'run', write(W, name, yaml), ...args], env);
    if (r.code !== 0) throw new Error(`${name}: ${r.out}\n${r.err}`);
  };
  await ceremony('root-key.yaml', docYaml('root-key.yaml', root.label), yes);
  // Two backups of the same key, each under its own KEK split: the drill takes the newer one.
  mkdirSync(f('backups'));
  for (const n of [1, 2]) {
    mkdirSync(f(`kek-${n}`));
    const yaml = docYaml('key-backup.yaml', root.label).replace('wrapped-key: root-ca.wrapped.json', `wrapped-key: backups/root-ca-${n}.wrapped.json`).replace('public-key: root-ca.backup.pub.pem', `public-key: root-ca-${n}.pub.pem`);
    await ceremony(`key-backup-${n}.yaml`, yaml, ['--so-pin-source', `file:${f('root.so-pin')}`, '--kek-share-dir', f(`kek-${n}`), ...yes]);
    await new Promise((r) => setTimeout(r, 20)); // distinct backup times
  }
  const newest = JSON.parse(readFileSync(f('backups/root-ca-2.wrapped.json'), 'utf8')) as { time: string; spkiSha256: string };
  backupTime = newest.time;
  backupSpki = newest.spkiSha256;

  db = await freshDatabase();
  if (db.url) {
    await migrateLatest(db.knex);
    dbEnv = { DATABASE_URL: db.url };
    dbArgs = [];
    withDb = (fn) => fn(db!.knex);
  } else {
    // PGlite allows one open handle: the drill command opens its own data directory, the test reads between runs.
    await db.drop();
    db = undefined;
    const dataDir = f('data');
    dbEnv = { DATABASE_URL: undefined };
    dbArgs = ['--data-dir', dataDir];
    const migrate = await cli(['db', 'migrate', '--data-dir', dataDir], dbEnv);
    if (migrate.code !== 0) throw new Error(migrate.err);
    withDb = async (fn) => {
      const k = await openDatabase({ dataDir });
      try {
        return await fn(k);
      } finally {
        await k.destroy();
      }
    };
  }
}, 180_000);

afterAll(async () => db?.drop());

describe('strongroom drill restore', () => {
  it('restores the newest backup with M of N KEK shares, verifies it, destroys it and records drill.restore', async () => {
    const r = await drill([...kekFiles(f('kek-1'), ['dora', 'erin']), ...kekFiles(f('kek-2'), ['erin', 'frank'])]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/"root-ca": 2 of 3 KEK custodians gave their shares \(erin, frank\)/);
    expect(r.out).toMatch(new RegExp(`"root-ca" \\(ec-p384, backed up ${backupTime.replace(/\./g, '\\.')} .*SPKI sha256 ${backupSpki} = the backup's; ecdsa-sha384 signatures in the token and through the pool verify`));
    expect(r.out).toMatch(/destroyed 1 restored key\(s\)/);
    expect(keyCount(scratch.label, scratch.pin)).toBe(0);
    // The root token still has its key: a drill never touches the backed-up token.
    expect(keyCount(root.label, root.pin)).toBe(1);

    const entries = await drillEntries();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor: 'strongroom-drill', subject: scratch.label, details: { outcome: 'ok', newestBackupAt: backupTime, destroyed: 1, keys: [{ label: 'root-ca', keyType: 'ec-p384', spkiSha256: backupSpki, backupTime }] } });
    const last = await withDb((k) => new DrillRecordStore(k).last());
    expect(last.backup?.toISOString()).toBe(backupTime);
    expect(last.drillSuccess).toBeInstanceOf(Date);
    expect(last.drillFailure).toBeUndefined();
    expect((await withDb((k) => verifyAudit(k))).ok).toBe(true);
  }, 120_000);

  it('refuses a scratch token holding any other key, before restoring anything (exit 2, recorded)', async () => {
    const other = createTestToken('drill-notscratch');
    write(W, 'other.pin', other.pin, 0o600);
    const ks = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: other.label }, pin: other.pin });
    ks.generate({ type: 'ec-p256', label: 'issuing-ca' });
    ks.close();
    const r = await drill(kekFiles(f('kek-2'), ['dora', 'erin']), { scratchToken: other.label, pinFile: f('other.pin') });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/holds 1 key\(s\) that are not a drill's \("issuing-ca"\)/);
    expect(keyCount(other.label, other.pin)).toBe(1);
    expect((await drillEntries()).at(-1)!.details).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/^DrillError: /) });
  }, 60_000);

  it('destroys the keys an interrupted drill left behind, then drills', async () => {
    const ks = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: scratch.label }, pin: scratch.pin });
    ks.generate({ type: 'ec-p256', label: 'drill-deadbeef-root-ca' });
    ks.close();
    const r = await drill(kekFiles(f('kek-2'), ['dora', 'frank']));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/destroyed "drill-deadbeef-root-ca", left on scratch token/);
    expect(keyCount(scratch.label, scratch.pin)).toBe(0);
  }, 60_000);

  const failures: { name: string; args: () => string[]; opts?: () => Parameters<typeof drill>[1]; code: number; message: RegExp }[] = [
    { name: 'fewer than M KEK shares', args: () => kekFiles(f('kek-2'), ['dora']), code: 3, message: /kek-custody of "root-ca"\.threshold: 2 shares are needed to unlock the ceremony, 1 given/ },
    { name: "only the older backup's shares", args: () => kekFiles(f('kek-1'), ['dora', 'erin']), code: 3, message: /2 shares are needed to unlock the ceremony, 0 given/ },
    { name: 'a wrong scratch-token PIN', args: () => kekFiles(f('kek-2'), ['dora', 'erin']), opts: () => ({ pinFile: f('wrong.pin') }), code: 3, message: /CKR_PIN_INCORRECT/ },
    {
      name: 'a damaged backup',
      args: () => kekFiles(f('kek-2'), ['dora', 'erin']),
      opts: () => {
        mkdirSync(f('damaged'), { recursive: true });
        const file = JSON.parse(readFileSync(f('backups/root-ca-2.wrapped.json'), 'utf8')) as { wrapped: string };
        const blob = Buffer.from(file.wrapped, 'base64');
        blob[10]! ^= 0xff;
        writeFileSync(f('damaged/root-ca.wrapped.json'), JSON.stringify({ ...file, wrapped: blob.toString('base64') }));
        return { backups: f('damaged') };
      },
      code: 1,
      message: /C_UnwrapKey failed with CKR_[A-Z_]+: the KEK does not open this backup/,
    },
    {
      name: 'a backup whose recorded SPKI was altered',
      args: () => kekFiles(f('kek-2'), ['dora', 'erin']),
      opts: () => {
        mkdirSync(f('altered'), { recursive: true });
        const file = JSON.parse(readFileSync(f('backups/root-ca-2.wrapped.json'), 'utf8')) as { spkiSha256: string };
        writeFileSync(f('altered/root-ca.wrapped.json'), JSON.stringify({ ...file, spkiSha256: 'f'.repeat(64) }));
        return { backups: f('altered') };
      },
      code: 1,
      message: /spkiSha256 is not the SHA-256 of spki \(the file was altered\)/,
    },
    { name: 'an empty backup folder', args: () => [], opts: () => (mkdirSync(f('empty'), { recursive: true }), { backups: f('empty') }), code: 2, message: /no key backups \(\*\.wrapped\.json\) in / },
  ];

  it.each(failures)('$name → exit $code, recorded as failed, scratch token empty', async ({ args, opts, code, message }) => {
    const before = (await drillEntries()).length;
    const r = await drill(args(), opts?.());
    expect(r.code, r.err).toBe(code);
    expect(r.err).toMatch(message);
    expect(r.err).toMatch(/^strongroom: drill failed \(recorded as drill\.restore\)/);
    const entries = await drillEntries();
    expect(entries).toHaveLength(before + 1);
    expect(entries.at(-1)!.details).toMatchObject({ outcome: 'failed' });
    expect(keyCount(scratch.label, scratch.pin)).toBe(0);
  }, 60_000);

  it('the last failure and the last success are both known to the metrics', async () => {
    const last = await withDb((k) => new DrillRecordStore(k).last());
    expect(last.drillFailure!.getTime()).toBeGreaterThan(last.drillSuccess!.getTime());
    expect(last.backup?.toISOString()).toBe(backupTime);
  });

  it('custodians are prompted for their shares when no share files are given (an empty answer skips one)', async () => {
    const asked: string[] = [];
    const lines: string[] = [];
    const r = await runRestoreDrill({
      backupDir: f('backups'),
      scratch: { module: SOFTHSM_MODULE, token: { label: scratch.label }, pin: scratch.pin },
      kekShares: {
        kind: 'prompt',
        ask: async (q) => {
          asked.push(q);
          const who = /Custodian (\w+),/.exec(q)![1]!;
          return who === 'dora' ? '' : readFileSync(f(`kek-2/${who}.kek.share`), 'utf8');
        },
      },
      out: (l) => lines.push(l),
    });
    expect(asked).toEqual(['Custodian dora, enter your share: ', 'Custodian erin, enter your share: ', 'Custodian frank, enter your share: ']);
    expect(r).toMatchObject({ destroyed: 1, newestBackupAt: backupTime, keys: [{ label: 'root-ca', spkiSha256: backupSpki }] });
    expect(lines.join('\n')).not.toMatch(/strongroom-share|:v1:/);
    expect(keyCount(scratch.label, scratch.pin)).toBe(0);
  }, 60_000);

  it('usage errors exit 2 and record nothing', async () => {
    const before = (await drillEntries()).length;
    const r = await cli(['drill', 'restore', '--backup-dir', f('backups'), ...dbArgs], dbEnv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--scratch-token is required/);
    expect((await cli(['drill', 'rehearse'], dbEnv)).code).toBe(2);
    expect(await drillEntries()).toHaveLength(before);
  });
});

