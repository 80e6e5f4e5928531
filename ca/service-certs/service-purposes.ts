/** What each service certificate is: its profile, and how its HSM key is named. */
import { isIP } from 'node:net';
import type { ServicePurpose } from '../db/service-certificate-store.ts';

export const PURPOSE_PROFILES: Record<ServicePurpose, string> = {
  ocsp: 'ocsp-signer',
  tsa: 'tsa',
  https: 'tls-server',
};

/**
 * CKA_LABEL of a new service key, e.g. svc-ocsp-issuing-ca-20261128140512 (UTC): an operator listing the token
 * sees what each key is for and when it was made. Not unique by itself; the key is always addressed by CKA_ID too.
 */
export function serviceKeyLabel(purpose: ServicePurpose, caName: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `svc-${purpose}-${caName}-${stamp}`;
}

/** Host names and IP addresses from config, as the SAN request the name policy takes. */
export function hostNames(names: readonly string[]): { dns: string[]; ip: string[] } {
  return { dns: names.filter((n) => isIP(n) === 0), ip: names.filter((n) => isIP(n) !== 0) };
}
