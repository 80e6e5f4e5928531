/**
 * TSTInfo (RFC 3161 §2.4.2), encoded by splicing: the constant parts (version, accuracy, tsa name) are DER made
 * once per TSA identity, the request's messageImprint and nonce are copied as received, and only the serial and
 * genTime are encoded per token, into one buffer. test/tsa/encoding.test.ts checks the bytes against
 * @peculiar/asn1-tsp's TSTInfo.
 *
 *   TSTInfo ::= SEQUENCE { version INTEGER { v1(1) }, policy TSAPolicyId, messageImprint MessageImprint,
 *     serialNumber INTEGER, genTime GeneralizedTime, accuracy Accuracy OPTIONAL,
 *     ordering BOOLEAN DEFAULT FALSE, nonce INTEGER OPTIONAL, tsa [0] GeneralName OPTIONAL,
 *     extensions [1] IMPLICIT Extensions OPTIONAL }
 */
import { encodeTlv, unsignedToInteger } from '../x509/der.ts';
import { integerContents, tlvLength, writeBytes, writeHeader } from './der-writer.ts';

const VERSION_1 = Uint8Array.of(0x02, 0x01, 0x01);

export interface TstInfoFields {
  policyDer: Uint8Array;
  messageImprintDer: Uint8Array;
  serial: bigint;
  genTime: Date;
  /** DER of the Accuracy SEQUENCE, or undefined to leave it out. */
  accuracyDer: Uint8Array | undefined;
  nonceDer: Uint8Array | undefined;
  /** DER of the [0] EXPLICIT GeneralName naming the TSA, or undefined. */
  tsaNameDer: Uint8Array | undefined;
}

export function encodeTstInfo(f: TstInfoFields): Uint8Array {
  const serial = integerContents(f.serial);
  const ms = f.genTime.getUTCMilliseconds();
  // YYYYMMDDhhmmss, then ".f", ".ff" or ".fff" without trailing zeros, then Z.
  const fraction = ms === 0 ? 0 : ms % 100 === 0 ? 2 : ms % 10 === 0 ? 3 : 4;
  const timeLength = 15 + fraction;
  const contentLength =
    VERSION_1.length +
    f.policyDer.length +
    f.messageImprintDer.length +
    tlvLength(serial.length) +
    tlvLength(timeLength) +
    (f.accuracyDer?.length ?? 0) +
    (f.nonceDer?.length ?? 0) +
    (f.tsaNameDer?.length ?? 0);
  const out = Buffer.allocUnsafe(tlvLength(contentLength));
  let o = writeHeader(out, 0, 0x30, contentLength);
  o = writeBytes(out, o, VERSION_1);
  o = writeBytes(out, o, f.policyDer);
  o = writeBytes(out, o, f.messageImprintDer);
  o = writeHeader(out, o, 0x02, serial.length);
  o = writeBytes(out, o, serial);
  o = writeHeader(out, o, 0x18, timeLength);
  o = writeTime(out, o, f.genTime, ms, fraction);
  if (f.accuracyDer) o = writeBytes(out, o, f.accuracyDer);
  if (f.nonceDer) o = writeBytes(out, o, f.nonceDer);
  if (f.tsaNameDer) writeBytes(out, o, f.tsaNameDer);
  return out;
}

/** GeneralizedTime contents in UTC: milliseconds with trailing zeros dropped, none on a whole second (RFC 3161 §2.4.2, DER). */
function writeTime(out: Uint8Array, o: number, t: Date, ms: number, fraction: number): number {
  o = writeDigits(out, o, t.getUTCFullYear(), 4);
  o = writeDigits(out, o, t.getUTCMonth() + 1, 2);
  o = writeDigits(out, o, t.getUTCDate(), 2);
  o = writeDigits(out, o, t.getUTCHours(), 2);
  o = writeDigits(out, o, t.getUTCMinutes(), 2);
  o = writeDigits(out, o, t.getUTCSeconds(), 2);
  if (fraction) {
    out[o++] = 0x2e;
    o = writeDigits(out, o, Math.floor(ms / 10 ** (4 - fraction)), fraction - 1);
  }
  out[o++] = 0x5a;
  return o;
}

function writeDigits(out: Uint8Array, o: number, value: number, width: number): number {
  for (let i = width - 1; i >= 0; i--) {
    out[o + i] = 0x30 + (value % 10);
    value = Math.floor(value / 10);
  }
  return o + width;
}

/**
 * Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER (1..999) OPTIONAL,
 * micros [1] INTEGER (1..999) OPTIONAL } — zero parts are left out.
 */
export function accuracyDer(accuracyMs: number): Uint8Array {
  if (!Number.isSafeInteger(accuracyMs) || accuracyMs < 1) throw new Error('accuracy is a positive whole number of milliseconds');
  const seconds = Math.floor(accuracyMs / 1000);
  const millis = accuracyMs % 1000;
  const parts: Uint8Array[] = [];
  if (seconds) parts.push(encodeTlv(0x02, unsignedToInteger(BigInt(seconds))));
  if (millis) parts.push(encodeTlv(0x80, unsignedToInteger(BigInt(millis))));
  return encodeTlv(0x30, Buffer.concat(parts));
}
