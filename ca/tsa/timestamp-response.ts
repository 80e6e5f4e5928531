/**
 * TimeStampResp (RFC 3161 §2.4.2): granted with the token, or rejection with one PKIFailureInfo bit and a short
 * statusString.
 *
 *   TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken TimeStampToken OPTIONAL }
 *   PKIStatusInfo ::= SEQUENCE { status PKIStatus, statusString PKIFreeText OPTIONAL, failInfo PKIFailureInfo OPTIONAL }
 */
import { encodeTlv } from '../x509/der.ts';
import { FAILURE_BITS, type FailureInfo } from './tsa-failure.ts';

const GRANTED_STATUS = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00);
const REJECTION = 2;

export function grantedResponse(token: Uint8Array): Uint8Array {
  return encodeTlv(0x30, Buffer.concat([GRANTED_STATUS, token]));
}

export function rejectionResponse(failInfo: FailureInfo, statusString: string): Uint8Array {
  const text = encodeTlv(0x30, encodeTlv(0x0c, Buffer.from(statusString, 'utf8')));
  const status = encodeTlv(0x30, Buffer.concat([Uint8Array.of(0x02, 0x01, REJECTION), text, failureBits(failInfo)]));
  return encodeTlv(0x30, status);
}

/** A named-bit BIT STRING with one bit set, trailing zero bits removed as DER requires. */
export function failureBits(failInfo: FailureInfo): Uint8Array {
  const bit = FAILURE_BITS[failInfo];
  const bytes = new Uint8Array(Math.floor(bit / 8) + 2);
  bytes[0] = 7 - (bit % 8);
  bytes[bytes.length - 1] = 0x80 >> bit % 8;
  return encodeTlv(0x03, bytes);
}
