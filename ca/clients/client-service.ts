/**
 * API clients: who may call the enrollment API and what for. A client is created with a bearer token shown once;
 * only the token's SHA-256 is stored (token.ts says why that is enough). Additions and revocations are audited in
 * the same transaction as the change.
 */
import type { AuditLog } from '../audit/index.ts';
import { ClientNameTaken, type ClientRow, type ClientStore } from '../db/client-store.ts';
import { BatchedLookup } from '../db/batched-lookup.ts';
import type { ClientIdentity } from '../issuance/issuance-service.ts';
import type { Profile } from '../profiles/index.ts';
import { GrantsError, parseGrants, type Grants, type GrantsInput } from './grants.ts';
import { hashesEqual, newToken, TOKEN_PATTERN, tokenHash } from './token.ts';

export const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** A client as the API sees it after authentication. */
export interface AuthenticatedClient extends ClientIdentity {
  admin: boolean;
}

export interface ClientInfo {
  id: number;
  name: string;
  grants: Grants | undefined;
  /** Set when the stored grants do not validate (the client then authenticates as nobody). */
  grantsProblem?: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export type ClientErrorCode = 'bad_request' | 'exists' | 'not_found';

export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ClientServiceDeps {
  store: ClientStore;
  audit: AuditLog;
  /** The profiles clients may be granted: leaf profiles only (CA profiles are for ceremonies). */
  profiles: ReadonlyMap<string, Profile>;
  clock: () => Date;
  random: (n: number) => Uint8Array;
}

export interface NewClient {
  name: string;
  grants: GrantsInput;
}

export class ClientService {
  /**
   * Bearer-token lookups of concurrent requests, asked in one query: every API request needs one, and a query per
   * request was a third of the database statements (and socket writes) per certificate. Each request still waits
   * for its own answer from the database, so a revocation counts from the next request on.
   */
  private readonly tokens: BatchedLookup<string, ClientRow>;

  constructor(private readonly deps: ClientServiceDeps) {
    this.tokens = new BatchedLookup((hashes) => deps.store.byTokenHashes(hashes));
  }

  /** Creates the client and returns its token: the only time the token exists outside the caller's hands. */
  async add(req: NewClient, actor: string): Promise<{ client: ClientInfo; token: string }> {
    if (typeof req.name !== 'string' || !CLIENT_NAME.test(req.name)) throw new ClientError('bad_request', 'a client name is 1 to 63 characters: letters, digits, ".", "_" and "-", starting with a letter or digit');
    let grants: Grants;
    try {
      grants = parseGrants(req.grants);
    } catch (e) {
      if (e instanceof GrantsError) throw new ClientError('bad_request', e.message);
      throw e;
    }
    if (grants.profiles.length === 0 && !grants.admin) throw new ClientError('bad_request', 'grant at least one profile (or make the client an admin)');
    for (const p of grants.profiles) {
      const profile = this.deps.profiles.get(p);
      if (!profile) throw new ClientError('bad_request', `no leaf profile named "${p}" (known: ${[...this.deps.profiles.keys()].join(', ')})`);
    }
    if (grants.expiresAt && grants.expiresAt <= this.deps.clock()) throw new ClientError('bad_request', 'expiresAt is in the past');
    const stored = {
      profiles: [...grants.profiles],
      names: grants.names,
      admin: grants.admin,
      ...(grants.expiresAt ? { expiresAt: grants.expiresAt.toISOString() } : {}),
    };
    const token = newToken(this.deps.random);
    try {
      const row = await this.deps.store.insert(req.name, tokenHash(token), stored, async (r, trx) => {
        await this.deps.audit.append({ actor, action: 'client.add', subject: r.name, details: { grants: stored } }, trx);
      });
      return { client: info(row), token };
    } catch (e) {
      if (e instanceof ClientNameTaken) throw new ClientError('exists', e.message);
      throw e;
    }
  }

  async list(): Promise<ClientInfo[]> {
    return (await this.deps.store.list()).map(info);
  }

  /** Revokes the client's token at once; false when it was revoked already. */
  async revoke(name: string, actor: string): Promise<boolean> {
    if (!(await this.deps.store.byName(name))) throw new ClientError('not_found', `no client named "${name}"`);
    return this.deps.store.revoke(name, this.deps.clock(), async (trx) => {
      await this.deps.audit.append({ actor, action: 'client.revoke', subject: name }, trx);
    });
  }

  /**
   * The client holding this token, or undefined for a missing, malformed, unknown, revoked or expired token, or
   * one whose stored grants no longer validate — the caller answers all of these alike. Database failures throw.
   */
  async authenticate(token: string | undefined): Promise<AuthenticatedClient | undefined> {
    if (token === undefined || !TOKEN_PATTERN.test(token)) return undefined;
    const hash = tokenHash(token);
    const row = await this.tokens.get(hash);
    // The lookup is by hash already; comparing again in constant time costs nothing and does not rely on how the
    // database compares strings.
    if (!row || !hashesEqual(row.tokenHash, hash) || row.revokedAt !== null) return undefined;
    let grants: Grants;
    try {
      grants = parseGrants(row.grants);
    } catch {
      return undefined;
    }
    if (grants.expiresAt && grants.expiresAt <= this.deps.clock()) return undefined;
    return {
      id: row.id,
      name: row.name,
      profiles: grants.profiles,
      rules: [{ source: `grant ${row.name}`, rules: grants.rules }],
      admin: grants.admin,
    };
  }
}

function info(row: ClientRow): ClientInfo {
  try {
    return { id: row.id, name: row.name, grants: parseGrants(row.grants), createdAt: row.createdAt, revokedAt: row.revokedAt };
  } catch (e) {
    return { id: row.id, name: row.name, grants: undefined, grantsProblem: (e as Error).message, createdAt: row.createdAt, revokedAt: row.revokedAt };
  }
}
