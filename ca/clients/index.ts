// API clients: bearer tokens (stored hashed), grants, authentication.
export { ClientError, ClientService, CLIENT_NAME, type AuthenticatedClient, type ClientErrorCode, type ClientInfo, type ClientServiceDeps, type NewClient } from './client-service.ts';
export { grantsSchema, GrantsError, parseGrants, type Grants, type GrantsDocument, type GrantsInput } from './grants.ts';
export { hashesEqual, newToken, TOKEN_PATTERN, TOKEN_PREFIX, tokenHash } from './token.ts';
