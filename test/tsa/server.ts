/**
 * A CA server with the TSA enabled, for HTTP tests: the test chain, a fresh database, and the TSA identity from
 * tsaCredentials (made once the server's pool is open), unless `serviceCertificates` asks for the real thing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrateLatest } from '../../ca/db/migrate.ts';
import { createCaServer, type CaServer, type CaServerConfigInput } from '../../ca/server/index.ts';
import type { ClockCheck } from '../../ca/clock/clock-check.ts';
import type { TsaIdentity } from '../../ca/tsa/tsa-identity.ts';
import { toPem } from '../../ca/x509/index.ts';
import { importIssuer, makeChain, serverConfig, type CaChain } from '../http/fixture.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { identityOf, tsaCredentials, type TsaCredentials } from './support.ts';

export const POLICY = '1.3.6.1.4.1.99999.3161.1';

export interface TsaServer {
  chain: CaChain;
  db: TestDatabase;
  ca: CaServer;
  url: string;
  creds: TsaCredentials | undefined;
  close(): Promise<void>;
}

export interface TsaServerOptions {
  chain?: CaChain;
  db?: TestDatabase;
  tsa?: Record<string, unknown>;
  config?: Partial<CaServerConfigInput>;
  clock?: () => Date;
  clockCheck?: ClockCheck;
  /** Sign with the CA's service certificate for 'tsa' instead of a test identity. */
  serviceCertificates?: boolean;
  /** Reuse these credentials (a second instance on the same token). */
  creds?: TsaCredentials;
}

export async function startTsaServer(prefix: string, o: TsaServerOptions = {}): Promise<TsaServer> {
  const chain = o.chain ?? (await makeChain(prefix));
  const db = o.db ?? (await freshDatabase());
  if (!o.db) {
    await migrateLatest(db.knex);
    await importIssuer(db.knex, chain, 'issuing-ca');
    writeFileSync(join(chain.dir, 'root.pem'), toPem(chain.rootDer, 'CERTIFICATE'));
    writeFileSync(join(chain.dir, 'issuing.pem'), toPem(chain.issuingDer, 'CERTIFICATE'));
  }
  let identity: TsaIdentity | undefined;
  // A moved clock fails the CA's own clock check (CRL and OCSP signing) unless the test names one: see test/http/fixture.ts.
  const base = serverConfig(chain, o.clock ? { clock: { check: 'none' }, ...o.config } : o.config);
  const ca = await createCaServer({
    config: { ...base, tsa: { enabled: true, policies: [POLICY], clock: { check: 'none' }, anchor: { enabled: false }, ...o.tsa } },
    pin: chain.token.pin,
    database: db.knex,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.clockCheck ? { tsaClockCheck: o.clockCheck } : {}),
    ...(o.serviceCertificates ? {} : { tsaIdentity: () => identity }),
  });
  let creds: TsaCredentials | undefined;
  try {
    if (!o.serviceCertificates) {
      creds = o.creds ?? (await tsaCredentials(chain, ca.pool));
      identity = identityOf(ca.pool, creds, chain);
      writeFileSync(join(chain.dir, 'issuing+tsa.pem'), toPem(chain.issuingDer, 'CERTIFICATE') + toPem(creds.certificateDer, 'CERTIFICATE'));
    }
  } catch (e) {
    await ca.close();
    throw e;
  }
  const listening = await ca.listen();
  return {
    chain,
    db,
    ca,
    url: listening.url,
    creds,
    close: async () => {
      await ca.close();
      if (!o.db) await db.drop();
    },
  };
}

/** POSTs a DER body to /tsa. */
export async function postTsa(url: string, body: Uint8Array, contentType = 'application/timestamp-query') {
  const res = await fetch(`${url}/tsa`, { method: 'POST', headers: { 'Content-Type': contentType }, body });
  return { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) };
}
