/**
 * Where @peculiar/asn1-schema (asn1js underneath) stops giving back the bytes it read: the raw CSR checks
 * (schema.ts, extension-list.ts) hand inputs beyond these to the library's own round trip instead of imitating it.
 */

/**
 * asn1js's default limits. It visits each node at an offset of its own (the speculative decoding of BIT STRING
 * and OCTET STRING contents included), so an input of at most this many bytes cannot reach its node limit.
 */
export const ASN1JS_MAX_NODES = 10_000;
export const ASN1JS_MAX_DEPTH = 100;

/**
 * The longest sub-identifier of OID contents, in octets: the library turns OID fields into text through doubles,
 * so one of 8 octets or more does not come back as written.
 */
export function longestSubidentifier(content: Uint8Array): number {
  let longest = 0;
  let run = 0;
  for (const b of content) {
    run++;
    if (!(b & 0x80)) {
      if (run > longest) longest = run;
      run = 0;
    }
  }
  return longest;
}
