/**
 * The PKCS#10 schema check, on the raw bytes. Intake used to parse the whole CSR with @peculiar/asn1-csr, re-encode
 * it and compare byte for byte (~550 µs of a ~2 ms intake); this refuses the same CSRs at a fraction of the cost.
 * It runs where the round trip ran — after checkDer, the top-level field checks and decodeSubject, before the key
 * and the signature — so a CSR the round trip refused is still bad_csr even when its key is weak. What the earlier
 * checks leave of the schema, and what the round trip added:
 *
 * - shapes (the library could not parse: "not a PKCS#10 CertificationRequest"): signatureAlgorithm and the key's
 *   AlgorithmIdentifier are SEQUENCE { OID, ANY OPTIONAL }, the SubjectPublicKeyInfo is SEQUENCE {
 *   AlgorithmIdentifier, BIT STRING }, each attribute is SEQUENCE { OID, SET OF ANY };
 * - encodings the library cannot write back ("the CSR is not in DER"): fields after the last one the schema names
 *   (it skips them), a context, application or private constructed tag where one of those SEQUENCEs belongs (it
 *   writes a SEQUENCE), a key or signature BIT STRING with unused bits (it keeps no count), an OBJECT IDENTIFIER
 *   field with a sub-identifier of 8 octets or more (held as a double), a UniversalString subject value beyond
 *   U+FFFF (decoded into 16-bit units);
 * - ANY values (algorithm parameters, attribute values, skipped fields), which asn1js decodes and re-encodes: the
 *   types listed in plainAny come back unchanged. For any other type (times, which it rewrites or throws on,
 *   [UNIVERSAL 15], odd-length BMPString, …) the CSR goes through the library round trip as before, and so does a
 *   CSR asn1js's own limits could bind on (more than 10 000 nodes or 100 levels).
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { bytesEqual, TAG_BIT_STRING, TAG_SEQUENCE, TAG_SET, toBytes } from '../x509/der.ts';
import { TAG_OID } from '../x509/oid.ts';
import { childrenOf, type Tlv } from './der.ts';
import { ASN1JS_MAX_DEPTH, ASN1JS_MAX_NODES, longestSubidentifier } from './asn1js-limits.ts';
import { badCsr } from './errors.ts';

export interface CsrFields {
  algId: Tlv;
  subject: Tlv;
  spki: Tlv;
  attributes: Tlv;
  signature: Tlv;
}

const notPkcs10 = () => badCsr('not a PKCS#10 CertificationRequest');
const notDer = () => badCsr('the CSR is not in DER');

/** `maxDepth` is the depth checkDer allowed: asn1js refuses deeper than its own limit. */
export function checkCsrSchema(der: Uint8Array, f: CsrFields, maxDepth: number): void {
  if (der.length > ASN1JS_MAX_NODES || maxDepth > ASN1JS_MAX_DEPTH) return libraryRoundTrip(der);
  const walk: Walk = { anys: [], differs: false };

  algorithmIdentifier(f.algId, walk);
  const [spkiAlg, keyBits] = fields(f.spki, 2, walk);
  algorithmIdentifier(spkiAlg!, walk);
  if (keyBits!.tag !== TAG_BIT_STRING) throw notPkcs10();
  for (const attribute of childrenOf(f.attributes, 'attributes')) {
    const [type, values] = fields(attribute, 2, walk);
    if (type!.tag !== TAG_OID || values!.tag !== TAG_SET) throw notPkcs10();
    typedOid(type!, walk);
    walk.anys.push(...childrenOf(values!, 'attribute values'));
  }
  for (const rdn of childrenOf(f.subject, 'subject')) {
    for (const atv of childrenOf(rdn, 'subject RDN')) {
      const [type, value] = childrenOf(atv, 'subject attribute');
      typedOid(type!, walk);
      if (value!.tag === 0x1c && !within16Bits(value!.content)) walk.differs = true;
    }
  }
  if (keyBits!.content[0] !== 0 || f.signature.content[0] !== 0) walk.differs = true;

  if (!walk.anys.every(plainAny)) return libraryRoundTrip(der);
  if (walk.differs) throw notDer();
}

interface Walk {
  /** Values the schema types as ANY, and fields it skips: asn1js decodes and re-encodes them. */
  anys: Tlv[];
  /** The library's re-encoding would differ from the input. */
  differs: boolean;
}

/** A SEQUENCE whose first `n` fields the schema names; the library skips later ones and so does not write them. */
function fields(tlv: Tlv, n: number, walk: Walk): Tlv[] {
  sequenceTag(tlv, walk);
  const kids = childrenOf(tlv, 'CSR field');
  if (kids.length < n) throw notPkcs10();
  if (kids.length > n) {
    walk.differs = true;
    walk.anys.push(...kids.slice(n));
  }
  return kids;
}

/**
 * The library reads a constructed context, application or private tag where a SEQUENCE type belongs as that
 * SEQUENCE, and writes it back as one.
 */
function sequenceTag(tlv: Tlv, walk: Walk): void {
  if (tlv.tag === TAG_SEQUENCE) return;
  if (!(tlv.tag & 0x20) || !(tlv.tag & 0xc0)) throw notPkcs10();
  walk.differs = true;
}

/** SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }. */
function algorithmIdentifier(tlv: Tlv, walk: Walk): void {
  sequenceTag(tlv, walk);
  const [algorithm, ...rest] = childrenOf(tlv, 'AlgorithmIdentifier');
  if (algorithm?.tag !== TAG_OID) throw notPkcs10();
  typedOid(algorithm, walk);
  if (rest.length > 1) walk.differs = true;
  walk.anys.push(...rest);
}

/** The library turns an OID field into text through doubles: sub-identifiers of 8+ octets do not come back. */
function typedOid(tlv: Tlv, walk: Walk): void {
  if (longestSubidentifier(tlv.content) >= 8) walk.differs = true;
}

/** UniversalString contents (length already a multiple of 4, checked by decodeSubject) with no unit above 0xFFFF. */
function within16Bits(content: Uint8Array): boolean {
  for (let i = 0; i < content.length; i += 4) if (content[i] !== 0 || content[i + 1] !== 0) return false;
  return true;
}

/**
 * True when asn1js decodes `value` and encodes it back to the same bytes (input already strict DER): constructed
 * values of any class, primitives of a non-universal class, and universal types it keeps as the octets it read.
 * Not OIDs with a sub-identifier of 8 octets or more (one of 8 comes back changed, through a double; one of 9+
 * unchanged), nor an odd-length BMPString (which it fails to decode): these and all other types are left to it.
 */
function plainAny(value: Tlv): boolean {
  const stack = [value];
  for (let tlv = stack.pop(); tlv; tlv = stack.pop()) {
    if (tlv.tag & 0x20) {
      stack.push(...childrenOf(tlv, 'value'));
      continue;
    }
    if (tlv.tag & 0xc0) continue;
    switch (tlv.tag) {
      case 0x01: // BOOLEAN
      case 0x02: // INTEGER
      case 0x03: // BIT STRING
      case 0x04: // OCTET STRING
      case 0x05: // NULL
      case 0x0c: // UTF8String
      case 0x12: // NumericString
      case 0x13: // PrintableString
      case 0x14: // TeletexString
      case 0x16: // IA5String
      case 0x1a: // VisibleString
        continue;
      case TAG_OID:
        if (longestSubidentifier(tlv.content) >= 8) return false;
        continue;
      case 0x1e: // BMPString
        if (tlv.content.length % 2) return false;
        continue;
      default:
        return false;
    }
  }
  return true;
}

/** The original check, for the CSRs above. A throw from serialize reaches parseCsr's catch-all, as it did. */
function libraryRoundTrip(der: Uint8Array): void {
  let parsed: CertificationRequest;
  try {
    parsed = AsnConvert.parse(der, CertificationRequest);
  } catch {
    throw notPkcs10();
  }
  if (!bytesEqual(toBytes(AsnConvert.serialize(parsed)), der)) throw notDer();
}
