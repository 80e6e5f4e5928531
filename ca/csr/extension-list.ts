/**
 * The extensionRequest's list of extensions, read from the raw bytes (already walked by checkDer). Intake used to
 * parse it with @peculiar/asn1-x509's Extensions, re-encode it and compare byte for byte, the largest remaining
 * cost of CSR intake; this refuses the same lists with the same messages. What the round trip refused:
 *
 * - shapes its parse refused ("not a list of extensions"): an element that is not SEQUENCE { OBJECT IDENTIFIER,
 *   BOOLEAN OPTIONAL, OCTET STRING, … } — a primitive, a SET, an application or private tag, a missing OID or
 *   extnValue, a field of the wrong type where one is expected (asn1js matches exact tags);
 * - encodings it could not write back ("not DER"): critical written out as FALSE (its DEFAULT, which it omits),
 *   fields after extnValue (it skips them), a constructed context tag where the SEQUENCE belongs (it reads it as
 *   the SEQUENCE and writes a SEQUENCE), an extnID with a sub-identifier of 8 octets or more (held as a double or
 *   as hex text, neither of which comes back).
 *
 * A "not DER" is only reported after every element parsed, as the round trip did. Two cases stay with the library
 * round trip: a list with a field after some extnValue (asn1js decodes the skipped field, and a type it cannot
 * decode makes the whole list "not a list"), and a list of more than 10,000 bytes (asn1js stops at 10,000 nodes,
 * counting those of its speculative decoding of OCTET STRING contents; it visits each node at an offset of its
 * own, so a shorter list cannot reach that limit). Nothing else is decoded on the way (OCTET STRING contents are
 * decoded speculatively, and failures there ignored), so nothing else can fail.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Extensions } from '@peculiar/asn1-x509';
import { bytesEqual, TAG_BOOLEAN, TAG_OCTET_STRING, TAG_SEQUENCE, toBytes } from '../x509/der.ts';
import { TAG_OID } from '../x509/oid.ts';
import { childrenOf, oidText, type Tlv } from './der.ts';
import { ASN1JS_MAX_NODES, longestSubidentifier } from './asn1js-limits.ts';
import { badCsr } from './errors.ts';

export interface ListedExtension {
  oid: string;
  critical: boolean;
  /** extnValue's contents. */
  value: Uint8Array;
}

const CONSTRUCTED_CONTEXT = 0xa0;

const notList = () => badCsr('extensionRequest: not a list of extensions');
const notDer = () => badCsr('extensionRequest: not DER');

/** `request` is the SEQUENCE OF Extension (its tag already checked). */
export function readExtensionList(request: Tlv): ListedExtension[] {
  if (request.bytes.length > ASN1JS_MAX_NODES) return libraryRoundTrip(request.bytes);
  const out: ListedExtension[] = [];
  let differs = false;
  for (const ext of childrenOf(request, 'extensionRequest')) {
    if (ext.tag !== TAG_SEQUENCE) {
      if ((ext.tag & 0xe0) !== CONSTRUCTED_CONTEXT) throw notList();
      differs = true;
    }
    const fields = childrenOf(ext, 'extension');
    const [id, second] = fields;
    if (id?.tag !== TAG_OID) throw notList();
    const critical = second?.tag === TAG_BOOLEAN;
    // A BOOLEAN that passed checkDer is 00 or ff; a list with 00 is refused, so critical is what was written.
    if (critical && second.content[0] === 0) differs = true;
    const value = fields[critical ? 2 : 1];
    if (value?.tag !== TAG_OCTET_STRING) throw notList();
    if (fields.length > (critical ? 3 : 2)) return libraryRoundTrip(request.bytes);
    if (longestSubidentifier(id.content) >= 8) differs = true;
    out.push({ oid: oidText(id.content), critical, value: value.content });
  }
  if (differs) throw notDer();
  return out;
}

/** The original check, for the lists above. A throw from serialize reaches parseCsr's catch-all, as it did. */
function libraryRoundTrip(bytes: Uint8Array): ListedExtension[] {
  let parsed: Extensions;
  try {
    parsed = AsnConvert.parse(bytes, Extensions);
  } catch {
    throw notList();
  }
  if (!bytesEqual(toBytes(AsnConvert.serialize(parsed)), bytes)) throw notDer();
  return parsed.map((ext) => ({ oid: ext.extnID, critical: ext.critical, value: toBytes(ext.extnValue.buffer) }));
}
