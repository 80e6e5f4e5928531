/**
 * What the TSA needs of its identity, and nothing more: a Signer over its HSM key and the certificate for that key
 * (issued from the `tsa` profile). Where it comes from — service certificates renewed before expiry, or a key and
 * certificate an operator provisioned — is the caller's business; the source is asked on every request, so a
 * renewal takes effect with the next token.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { ExtendedKeyUsage, id_ce_extKeyUsage, id_kp_timeStamping } from '@peculiar/asn1-x509';
import type { Signer } from '../../hsm/index.ts';
import { bytesEqual } from '../x509/der.ts';
import { issuerInfo, type IssuerInfo } from '../x509/index.ts';

export interface TsaIdentity {
  signer: Signer;
  /** The TSA certificate, DER. */
  certificateDer: Uint8Array;
  /** Its issuers, nearest first (the issuing CA, then up to the root). */
  chain: Uint8Array[];
  notBefore: Date;
  notAfter: Date;
}

/** The current identity, or undefined while there is none (not provisioned yet, or being renewed). */
export type TsaIdentitySource = () => TsaIdentity | undefined;

export class TsaIdentityError extends Error {
  override readonly name = 'TsaIdentityError';
}

/**
 * Checks that the certificate is a TSA certificate for the signer's key (RFC 3161 §2.3: extKeyUsage
 * timeStamping, alone and critical) and returns the identity.
 */
export function tsaIdentity(signer: Signer, certificateDer: Uint8Array, chain: Uint8Array[] = []): TsaIdentity {
  const info = issuerInfo(certificateDer);
  if (!bytesEqual(info.spki, signer.spki)) throw new TsaIdentityError("the TSA certificate is not for the TSA key (its public key differs from the HSM key's)");
  checkTsaCertificate(info);
  return { signer, certificateDer, chain, notBefore: info.notBefore, notAfter: info.notAfter };
}

/** extKeyUsage timeStamping, alone and critical (RFC 3161 §2.3); throws TsaIdentityError otherwise. */
export function checkTsaCertificate(info: IssuerInfo): void {
  const eku = info.certificate.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_extKeyUsage);
  if (!eku || !eku.critical) throw new TsaIdentityError('the TSA certificate needs a critical extKeyUsage extension (RFC 3161 §2.3)');
  const purposes = AsnConvert.parse(eku.extnValue.buffer, ExtendedKeyUsage);
  if (purposes.length !== 1 || purposes[0] !== id_kp_timeStamping) throw new TsaIdentityError('the TSA certificate must have extKeyUsage timeStamping and nothing else (RFC 3161 §2.3)');
}
