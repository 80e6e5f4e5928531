/**
 * CRLs and OCSP answers say when they were made (thisUpdate, producedAt). Signed while the server's clock is known to
 * be off, they would carry a time that has not come yet — or one long gone. While the clock check fails, the pool
 * they sign through refuses with HsmUnavailable, which their existing failure paths already handle: the published CRL
 * stays and no CRL number is used; OCSP keeps serving what was signed before and answers tryLater for the rest. The
 * same rule as the TSA's timeNotAvailable. Issuance is not gated: a notBefore ahead by the skew only delays when a
 * certificate becomes valid.
 */
import { HsmUnavailable, type SigningPool } from '../../hsm/index.ts';

export function clockGatedPool(pool: SigningPool, clockOk: () => boolean): SigningPool {
  return {
    sign: (req) => (clockOk() ? pool.sign(req) : Promise.reject(new HsmUnavailable('the clock is out of tolerance: nothing that carries the time is signed until it is right'))),
    health: () => pool.health(),
    close: () => pool.close(),
  };
}
