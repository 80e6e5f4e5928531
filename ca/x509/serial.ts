/**
 * Certificate serial numbers (RFC 5280 §4.1.2.2; CA/B BR 7.1: at least 64 bits from a CSPRNG). The randomness is
 * injected: the HSM's C_GenerateRandom in ceremonies (the transcript can say where every serial came from), Node's
 * CSPRNG online.
 *
 * Text form: lowercase hex of the integer value with no leading zeros ("a1f…", never "00a1f…" or "0a1f…"), so one
 * serial has exactly one spelling and the database's UNIQUE (ca_id, serial) means what it says. `bytes` are the DER
 * INTEGER contents (minimal, with a 0x00 octet only where the top bit would otherwise read as negative).
 */
import { integerToBigint, isMinimalInteger, toBytes, unsignedToInteger } from './der.ts';
import { X509Error, type Finding } from './errors.ts';

export type RandomSource = (bytes: number) => Uint8Array | Promise<Uint8Array>;

export interface Serial {
  /** DER INTEGER contents. */
  bytes: Uint8Array;
  /** Lowercase hex, no leading zeros. */
  hex: string;
}

const RANDOM_OCTETS = 16;
export const MAX_SERIAL_OCTETS = 20;
export const MIN_SERIAL_OCTETS = 8;

/**
 * 16 random octets with the top bit cleared: positive without a sign octet, 127 bits of entropy, at most 16
 * octets. A draw that is zero or shrinks below 8 octets (below 2^56: a 2^-71 event) is thrown away and drawn again.
 */
export async function newSerial(random: RandomSource): Promise<Serial> {
  for (let attempt = 0; attempt < 4; attempt++) {
    const raw = toBytes(await random(RANDOM_OCTETS));
    if (raw.length !== RANDOM_OCTETS) throw new X509Error('invalid-input', `random source returned ${raw.length} bytes, not ${RANDOM_OCTETS}`);
    raw[0]! &= 0x7f;
    const value = BigInt(`0x${Buffer.from(raw).toString('hex')}`);
    if (value >= 1n << BigInt(8 * (MIN_SERIAL_OCTETS - 1))) return serialFromBigint(value);
  }
  // Four draws in a row that bad mean the source is broken (an HSM returning zeros), not unlucky.
  throw new X509Error('invalid-input', 'the random source keeps returning (near-)zero values');
}

export function serialFromBigint(value: bigint): Serial {
  if (value <= 0n) throw new X509Error('invalid-input', 'a serial number is a positive integer');
  const bytes = unsignedToInteger(value);
  if (bytes.length > MAX_SERIAL_OCTETS) throw new X509Error('invalid-input', `serial of ${bytes.length} octets; at most ${MAX_SERIAL_OCTETS}`);
  return { bytes, hex: value.toString(16) };
}

/** Parses the text form. Leading zeros are refused rather than normalised: they would be a second spelling. */
export function serialFromHex(hex: string): Serial {
  if (!/^[1-9a-f][0-9a-f]{0,39}$/.test(hex)) throw new X509Error('invalid-input', `serial "${hex}" is not lowercase hex without leading zeros`);
  return serialFromBigint(BigInt(`0x${hex}`));
}

/** From DER INTEGER contents, which must already be minimal and positive. */
export function serialFromBytes(bytes: Uint8Array): Serial {
  const problems = checkSerial(bytes, { minOctets: 1 });
  if (problems.length) throw new X509Error('invalid-input', problems.map((p) => p.message).join('; '));
  return { bytes: toBytes(bytes), hex: integerToBigint(bytes).toString(16) };
}

export type SerialFindingCode = 'serial-not-minimal' | 'serial-not-positive' | 'serial-too-long' | 'serial-low-entropy';

/**
 * The serial rules as lint findings: minimal DER, positive, at most 20 octets, and at least `minOctets` (default 8,
 * i.e. room for 64 random bits; CRL entries pass 1, since they name serials other CAs may have chosen).
 */
export function checkSerial(bytes: Uint8Array, { minOctets = MIN_SERIAL_OCTETS } = {}): Finding<SerialFindingCode>[] {
  const out: Finding<SerialFindingCode>[] = [];
  const error = (code: SerialFindingCode, message: string) => out.push({ code, severity: 'error', message });
  if (!isMinimalInteger(bytes)) {
    error('serial-not-minimal', 'the serial INTEGER is empty or has redundant leading octets');
    if (bytes.length === 0) return out;
  }
  if (integerToBigint(bytes) <= 0n) error('serial-not-positive', 'the serial must be a positive integer');
  if (bytes.length > MAX_SERIAL_OCTETS) error('serial-too-long', `serial of ${bytes.length} octets; RFC 5280 allows at most ${MAX_SERIAL_OCTETS}`);
  // Octets of the value, a 0x00 sign octet not counted: it carries no entropy. Below 8 octets (2^56) a serial
  // cannot hold 64 random bits, whatever its source claims.
  const significant = bytes[0] === 0 ? bytes.length - 1 : bytes.length;
  if (significant < minOctets) error('serial-low-entropy', `serial of ${significant} significant octets; at least ${minOctets} (64 random bits) required`);
  return out;
}
