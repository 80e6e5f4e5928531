/**
 * Bearer authentication. Missing header, another scheme, a malformed, unknown, revoked or expired token: all the
 * same 401 with the same body (error-response.ts), so a caller learns nothing about which it was.
 */
import type { AuthenticatedClient } from '../clients/index.ts';
import { HttpError, UNAUTHORIZED_MESSAGE } from './http-error.ts';

export type Authenticate = (token: string | undefined) => Promise<AuthenticatedClient | undefined>;

const BEARER = /^Bearer +([!-~]{1,200}) *$/i;

export async function authenticateRequest(authorization: string | undefined, authenticate: Authenticate): Promise<AuthenticatedClient> {
  const token = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
  let client: AuthenticatedClient | undefined;
  try {
    client = await authenticate(token);
  } catch {
    throw new HttpError('unavailable', 'clients cannot be checked right now; try again', 5);
  }
  if (!client) throw new HttpError('unauthorized', UNAUTHORIZED_MESSAGE);
  return client;
}
