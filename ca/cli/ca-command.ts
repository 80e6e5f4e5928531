/** `strongroom ca …`: the issuers the online CA runs — import from a ceremony, list, and the rollover lifecycle. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Pkcs11KeyStore } from '../../hsm/index.ts';
import { importAuthority, ImportError, parseChainPem } from '../authorities/import-authority.ts';
import { AuthorityStore, type AuthorityStatus } from '../db/authority-store.ts';
import { databaseUrlFromEnv, openDatabase } from '../db/connect.ts';
import { migrateLatest } from '../db/migrate.ts';
import { EXIT, UsageError } from './cli-error.ts';
import { dataDirOf, hsmFlagSpec, pinFor, resolveHsmTarget, type HsmFlags } from './hsm-options.ts';

export const CA_USAGE = `strongroom ca <command>
  import --certificate CERT.pem --chain CHAIN.pem --key pkcs11:URI [--name NAME] [--inactive]
                       register an issuing CA from a ceremony after checking the online HSM holds its key;
                       it becomes the issuer of new certificates unless --inactive
  list                 issuers with their key, validity and state
  activate NAME        make NAME the issuer of new certificates (the current one is superseded)
  retire NAME          NAME signs nothing any more
Common: --data-dir DIR, --module, --token, --pin-source (as for strongroom hsm)`;

type Out = (line: string) => void;

function parse<T extends Record<string, { type: 'string' | 'boolean' }>>(argv: string[], extra: T) {
  try {
    return parseArgs({ args: argv, options: { ...hsmFlagSpec, ...extra }, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function withStore<T>(flags: { 'data-dir'?: string }, fn: (store: AuthorityStore) => Promise<T>): Promise<T> {
  const url = databaseUrlFromEnv();
  const db = await openDatabase({ ...(url ? { url } : {}), dataDir: dataDirOf(flags) });
  try {
    await migrateLatest(db);
    return await fn(new AuthorityStore(db));
  } finally {
    await db.destroy();
  }
}

export async function caCommand(argv: string[], out: Out): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'import': {
      const { values } = parse(rest, { certificate: { type: 'string' }, chain: { type: 'string' }, name: { type: 'string' }, inactive: { type: 'boolean' } });
      if (!values.certificate || !values.chain || !values.key) throw new UsageError(`import needs --certificate, --chain and --key\n${CA_USAGE}`);
      const target = resolveHsmTarget(values as HsmFlags);
      if (!target.key) throw new UsageError('--key must name the key (object= or id=)');
      const pin = await pinFor(target);
      const keyUri = values.key;
      try {
        const row = await withStore(values, (store) =>
          importAuthority(
            {
              name: values.name ?? target.key!.label ?? 'issuing-ca',
              certificatePem: readFileSync(values.certificate!, 'utf8'),
              chainPem: parseChainPem(readFileSync(values.chain!, 'utf8')),
              keyUri,
              activate: values.inactive !== true,
            },
            {
              store,
              now: () => new Date(),
              publicKeyOf: async () => {
                const ks = Pkcs11KeyStore.open({ module: target.module, token: target.token, pin });
                try {
                  return ks.publicKey(target.key!).spki;
                } finally {
                  ks.close();
                }
              },
            },
          ),
        );
        out(`imported "${row.name}" (${row.subjectDn}), ${row.status}, key ${row.keyUri}, spki sha256 ${row.spkiSha256}`);
        return EXIT.ok;
      } catch (e) {
        if (e instanceof ImportError) throw new UsageError(e.message);
        throw e;
      }
    }
    case 'list': {
      const { values } = parse(rest, { json: { type: 'boolean' } });
      const rows = await withStore(values, (store) => store.list());
      if (values.json) {
        out(JSON.stringify(rows.map(({ certificateDer: _d, chainPem: _c, ...r }) => r), null, 2));
        return EXIT.ok;
      }
      if (rows.length === 0) out('no issuers yet: run an intermediate ceremony, then strongroom ca import');
      for (const r of rows) out(`${r.status.padEnd(10)} ${r.name.padEnd(20)} ${r.notBefore?.toISOString().slice(0, 10)} → ${r.notAfter?.toISOString().slice(0, 10)}  ${r.keyUri}  ${r.subjectDn}`);
      return EXIT.ok;
    }
    case 'activate':
    case 'retire': {
      const { values, positionals } = parse(rest, {});
      const name = positionals[0];
      if (!name || positionals.length !== 1) throw new UsageError(`${sub} takes one issuer name`);
      const status: AuthorityStatus = sub === 'activate' ? 'active' : 'retired';
      await withStore(values, async (store) => {
        if (!(await store.byName(name))) throw new UsageError(`no issuer named "${name}"`);
        await store.setStatus(name, status);
      });
      out(`${name} is now ${status}`);
      return EXIT.ok;
    }
    case undefined:
    case 'help':
    case '--help':
      out(CA_USAGE);
      return sub === undefined ? EXIT.usage : EXIT.ok;
    default:
      throw new UsageError(`unknown ca command "${sub}"\n${CA_USAGE}`);
  }
}
