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

/** The date's UTC year, if an X.509 time can say it (1950–9999); throws otherwise. */
function encodableYear(date: Date): number {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new X509Error('invalid-input', 'not a valid date');
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new X509Error('invalid-input', `year ${year} cannot be encoded in an X.509 time`);
  return year;
}

export function x509Time(date: Date): Time {
  const year = encodableYear(date);
  const d = wholeSeconds(date);
  return year < 2050 ? new Time({ utcTime: d }) : new Time({ generalTime: d });
}

/** What is wrong with a parsed time's encoding, if anything (for the linters). */
export function timeEncodingProblem(time: Time): string | undefined {
  const date = time.getTime();
  return rawTimeProblem({ kind: time.utcTime ? 'utc' : 'generalized', date, fractional: date.getUTCMilliseconds() !== 0 });
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** DER of the Time x509Time would choose for `date`, written directly (the TBS encoder's hot path). */
export function timeDer(date: Date): Uint8Array {
  const year = encodableYear(date);
  const rest = `${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  const text = year < 2050 ? `${pad(year % 100)}${rest}` : `${year}${rest}`;
  const out = new Uint8Array(2 + text.length);
  out[0] = year < 2050 ? 0x17 : 0x18;
  out[1] = text.length;
  for (let i = 0; i < text.length; i++) out[2 + i] = text.charCodeAt(i);
  return out;
}

/** A Time read from its DER: which type, and the instant. */
export interface RawTime {
  kind: 'utc' | 'generalized';
  date: Date;
  /** A fraction of a second was written (even one finer than the Date's milliseconds). */
  fractional: boolean;
}

// DER (X.690 §11.7–11.8): seconds present, 'Z', no trailing zeros in a fraction, no empty fraction.
const UTC = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
const GENERALIZED = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z$/;

/** The Time in a UTCTime (0x17) or GeneralizedTime (0x18) TLV's contents, or undefined unless it is in DER form. */
export function readTime(tag: number, content: Uint8Array): RawTime | undefined {
  if (content.length > 32 || (tag !== 0x17 && tag !== 0x18)) return undefined;
  const text = String.fromCharCode(...content);
  const m = (tag === 0x17 ? UTC : GENERALIZED).exec(text);
  if (!m) return undefined;
  const n = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const year = tag === 0x17 ? (n[0] >= 50 ? 1900 + n[0] : 2000 + n[0]) : n[0];
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  const date = new Date(Date.UTC(year, n[1] - 1, n[2], n[3], n[4], n[5], ms));
  // Date.UTC rolls 31 February over into March: a value it had to normalise was not a calendar time.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== n[1] - 1 || date.getUTCDate() !== n[2] || date.getUTCHours() !== n[3] || date.getUTCMinutes() !== n[4] || date.getUTCSeconds() !== n[5]) return undefined;
  return { kind: tag === 0x17 ? 'utc' : 'generalized', date, fractional: m[7] !== undefined };
}

/** What is wrong with a time's encoding for RFC 5280, if anything (for the linters). */
export function rawTimeProblem({ kind, date, fractional }: RawTime): string | undefined {
  const year = date.getUTCFullYear();
  if (kind === 'utc' && year >= 2050) return `UTCTime used for ${year}`;
  if (kind === 'generalized' && year < 2050) return `GeneralizedTime used for ${year} (UTCTime until 2049)`;
  if (fractional) return 'fractional seconds';
  return undefined;
}
