/**
 * The date rules of the ceremonies, checked on the config before the HSM is opened (the lint checks the built TBS
 * again afterwards): root validity ≤ 25 years, an intermediate ≤ 10 years and inside its issuer's validity, a CRL's
 * nextUpdate after thisUpdate and at most 12 months later. Years and months are calendar ones, in UTC.
 */
import type { IssuerInfo } from '../x509/index.ts';
import { refused } from './errors.ts';

export const ROOT_MAX_YEARS = 25;
export const INTERMEDIATE_MAX_YEARS = 10;
export const CRL_MAX_MONTHS = 12;

/** Lint limits in days, a little looser than the calendar rules above so the lint never contradicts them. */
export const ROOT_LINT_DAYS = ROOT_MAX_YEARS * 366;
export const INTERMEDIATE_LINT_DAYS = INTERMEDIATE_MAX_YEARS * 366;
export const CRL_LINT_DAYS = 366;

export function addMonthsUtc(d: Date, months: number): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()));
}

const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');

/**
 * notBefore < notAfter, notAfter ≤ notBefore + maxYears, and, with an issuer, both inside the issuer's validity.
 * `section` is the config section holding not-before / not-after ("certificate").
 */
export function checkValidity(section: string, notBefore: Date, notAfter: Date, maxYears: number, issuer?: { info: IssuerInfo; field: string }): void {
  if (notAfter.getTime() <= notBefore.getTime()) throw refused(`${section}.not-after`, `${iso(notAfter)} is not after ${section}.not-before (${iso(notBefore)})`);
  const limit = addMonthsUtc(notBefore, 12 * maxYears);
  if (notAfter.getTime() > limit.getTime()) {
    throw refused(`${section}.not-after`, `${iso(notAfter)} is more than ${maxYears} years after ${section}.not-before (at most ${iso(limit)})`);
  }
  if (!issuer) return;
  const { notBefore: from, notAfter: to } = issuer.info;
  if (notBefore.getTime() < from.getTime()) {
    throw refused(`${section}.not-before`, `${iso(notBefore)} is before the issuer certificate's notBefore (${iso(from)}, ${issuer.field})`);
  }
  if (notAfter.getTime() > to.getTime()) {
    throw refused(`${section}.not-after`, `${iso(notAfter)} is after the issuer certificate's notAfter (${iso(to)}, ${issuer.field}): it must lie within its issuer's validity`);
  }
}

export function checkCrlDates(thisUpdate: Date, nextUpdate: Date): void {
  if (nextUpdate.getTime() <= thisUpdate.getTime()) throw refused('crl.next-update', `${iso(nextUpdate)} is not after crl.this-update (${iso(thisUpdate)})`);
  const limit = addMonthsUtc(thisUpdate, CRL_MAX_MONTHS);
  if (nextUpdate.getTime() > limit.getTime()) {
    throw refused('crl.next-update', `${iso(nextUpdate)} is more than ${CRL_MAX_MONTHS} months after crl.this-update (at most ${iso(limit)})`);
  }
}

export { iso as isoSeconds };
