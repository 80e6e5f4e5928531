/**
 * Client-certificate authentication on the HTTPS listener: a client that presents, over a TLS connection whose
 * chain Node has verified against our issuers, a certificate an operator bound to an API client, is that client —
 * as if it had sent the client's bearer token. Everything else decides as for tokens: a revoked or expired
 * certificate, a revoked client, expired or unreadable grants → nobody (401, the same body as for a bad token).
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { parseGrants, type AuthenticatedClient, type Grants } from '../clients/index.ts';
import type { CertificateClient } from '../db/client-certificate-store.ts';

export type AuthenticatePeer = (socket: Socket) => Promise<AuthenticatedClient | undefined>;

export interface PeerAuthDeps {
  /** The client bound to exactly this certificate (serial as lowercase hex without leading zeros, DER). */
  clientOf(serial: string, der: Uint8Array): Promise<CertificateClient | undefined>;
  clock: () => Date;
}

export function certificateAuthenticator(deps: PeerAuthDeps): AuthenticatePeer {
  return async (socket) => {
    // authorized: the chain verified against the trusted issuers at the handshake (clientAuth optional or require).
    if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
    const peer = socket.getPeerCertificate(false);
    if (!peer?.raw || !peer.serialNumber) return undefined;
    const serial = peer.serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
    const row = await deps.clientOf(serial, new Uint8Array(peer.raw));
    if (!row || row.revoked || row.certificateStatus !== 'issued' || row.clientRevokedAt !== null) return undefined;
    const now = deps.clock().getTime();
    if (now < row.notBefore.getTime() || now >= row.notAfter.getTime()) return undefined;
    let grants: Grants;
    try {
      grants = parseGrants(row.grants);
    } catch {
      return undefined;
    }
    if (grants.expiresAt && grants.expiresAt.getTime() <= now) return undefined;
    return { id: row.clientId, name: row.clientName, profiles: grants.profiles, rules: [{ source: `grant ${row.clientName}`, rules: grants.rules }], admin: grants.admin };
  };
}
