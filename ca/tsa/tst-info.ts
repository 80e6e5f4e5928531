/**
 * TSTInfo (RFC 3161 §2.4.2), encoded by splicing: the constant parts (version, accuracy, tsa name) are DER made
 * once per TSA identity, the request's messageImprint and nonce are copied as received, and only the serial and
 * genTime are encoded per token. test/tsa/encoding.test.ts checks the bytes against @peculiar/asn1-tsp's TSTInfo.
 *
 *   TSTInfo ::= SEQUENCE { version INTEGER { v1(1) }, policy TSAPolicyId, messageImprint MessageImprint,
 *     serialNumber INTEGER, genTime GeneralizedTime, accuracy Accuracy OPTIONAL,
 *     ordering BOOLEAN DEFAULT FALSE, nonce INTEGER OPTIONAL, tsa [0] GeneralName OPTIONAL,
 *     extensions [1] IMPLICIT Extensions OPTIONAL }
 */
import { encodeTlv, unsignedToInteger } from '../x509/der.ts';

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
  const parts = [VERSION_1, f.policyDer, f.messageImprintDer, encodeTlv(0x02, unsignedToInteger(f.serial)), generalizedTime(f.genTime)];
  if (f.accuracyDer) parts.push(f.accuracyDer);
  if (f.nonceDer) parts.push(f.nonceDer);
  if (f.tsaNameDer) parts.push(f.tsaNameDer);
  return encodeTlv(0x30, Buffer.concat(parts));
}

/**
 * GeneralizedTime in UTC with milliseconds, trailing zeros of the fraction dropped and no fraction at all on a
 * whole second (RFC 3161 §2.4.2 and DER).
 */
export function generalizedTime(t: Date): Uint8Array {
  const iso = t.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  let text = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  if (fraction) text += `.${fraction}`;
  return encodeTlv(0x18, Buffer.from(`${text}Z`, 'latin1'));
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
