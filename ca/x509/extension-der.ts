/**
 * An Extension's DER, written directly: SEQUENCE { extnID, critical only when TRUE (DER leaves the DEFAULT out),
 * extnValue }. Its value is already DER inside the object, so the schema library has nothing to add here but
 * ~30 µs per extension, and a TBS carries eight or more of them.
 */
import type { Extension } from '@peculiar/asn1-x509';
import { encodeTlv, encodeTlvOf } from './der.ts';
import { oidDer } from './oid.ts';

const CRITICAL = Uint8Array.from([0x01, 0x01, 0xff]);

export function extensionDer(ext: Extension): Uint8Array {
  const value = encodeTlv(0x04, new Uint8Array(ext.extnValue.buffer));
  return encodeTlvOf(0x30, ext.critical ? [oidDer(ext.extnID), CRITICAL, value] : [oidDer(ext.extnID), value]);
}
