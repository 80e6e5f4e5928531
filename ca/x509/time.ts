/**
 * Validity and CRL times (RFC 5280 §4.1.2.5, §5.1.2.4): UTCTime through 2049, GeneralizedTime from 2050, always
 * UTC and whole seconds. Milliseconds are dropped here: asn1js would otherwise write a fractional
 * GeneralizedTime, which RFC 5280 forbids.
 */
import { Time } from '@peculiar/asn1-x509';
import { X509Error } from './errors.ts';

export function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

export function x509Time(date: Date): Time {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new X509Error('invalid-input', 'not a valid date');
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new X509Error('invalid-input', `year ${year} cannot be encoded in an X.509 time`);
  const d = wholeSeconds(date);
  return year < 2050 ? new Time({ utcTime: d }) : new Time({ generalTime: d });
}

/** What is wrong with a parsed time's encoding, if anything (for the linters). */
export function timeEncodingProblem(time: Time): string | undefined {
  const date = time.getTime();
  const year = date.getUTCFullYear();
  if (time.utcTime && year >= 2050) return `UTCTime used for ${year}`;
  if (time.generalTime && year < 2050) return `GeneralizedTime used for ${year} (UTCTime until 2049)`;
  if (date.getUTCMilliseconds() !== 0) return 'fractional seconds';
  return undefined;
}
