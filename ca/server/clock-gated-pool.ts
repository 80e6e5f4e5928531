/**
 * CRLs and OCSP answers say when they were made (thisUpdate, producedAt). Signed while the server's clock is known to
 * be off, they would carry a time that has not come yet — or one long gone. While the clock check fails, the OCSP
 * responder's pool refuses with HsmUnavailable, which its failure path already handles: what was signed before is
 * still served, tryLater for the rest. CRLs sign with the issuers' signers, which issuance shares, so CrlService
 * checks the same clock itself (its clockOk): the published CRL stays and no CRL number is used. The same rule as
 * the TSA's timeNotAvailable. Issuance is not gated: a notBefore ahead by the skew only delays when a certificate
 * becomes valid.
 */
import { HsmUnavailable, type SigningPool } from '../../hsm/index.ts';

export function clockGatedPool(pool: SigningPool, clockOk: () => boolean): SigningPool {
  return {
    sign: (req) => (clockOk() ? pool.sign(req) : Promise.reject(new HsmUnavailable('the clock is out of tolerance: nothing that carries the time is signed until it is right'))),
    health: () => pool.health(),
    close: () => pool.close(),
  };
}
