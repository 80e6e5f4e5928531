/**
 * GeneralizedTime as RFC 5280 §4.1.2.5.2 and RFC 6960 want it: YYYYMMDDHHMMSSZ, UTC, whole seconds (milliseconds
 * are dropped, never rounded up: a time must not claim to be later than it is). Always 17 octets with its header.
 */
import { TAG } from './der-writer.ts';
import { OcspEncodingError } from './errors.ts';

export const GENERALIZED_TIME_LENGTH = 17;

export function checkTime(date: Date, what: string): void {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new OcspEncodingError(`${what}: not a valid date`);
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new OcspEncodingError(`${what}: year ${year} does not fit a GeneralizedTime`);
}

function two(out: Uint8Array, at: number, n: number): number {
  out[at] = 0x30 + Math.floor(n / 10);
  out[at + 1] = 0x30 + (n % 10);
  return at + 2;
}

/** Writes the whole TLV at `offset` (the date must have passed checkTime); returns the offset after it. */
export function writeGeneralizedTime(out: Uint8Array, offset: number, date: Date): number {
  out[offset++] = TAG.GENERALIZED_TIME;
  out[offset++] = 15;
  const year = date.getUTCFullYear();
  offset = two(out, offset, Math.floor(year / 100));
  offset = two(out, offset, year % 100);
  offset = two(out, offset, date.getUTCMonth() + 1);
  offset = two(out, offset, date.getUTCDate());
  offset = two(out, offset, date.getUTCHours());
  offset = two(out, offset, date.getUTCMinutes());
  offset = two(out, offset, date.getUTCSeconds());
  out[offset++] = 0x5a; // 'Z'
  return offset;
}
