/**
 * OCSPRequest (RFC 6960 §4.1) parsing for the hot path: a hand-written reader over offsets instead of the
 * @peculiar/asn1-ocsp object model, which costs over 100× more per request (test/ocsp/encoding/measure.ts).
 * Only the parts the responder uses are decoded; requestorName and optionalSignature are checked as TLVs and
 * otherwise ignored (we never require or verify request signatures).
 *
 * Byte arrays in the result are views into the input, not copies: do not reuse or mutate the input buffer while
 * the result is in use.
 */
import { bytesAt, DerCursor, type Element } from './der-reader.ts';
import { contextConstructed, TAG } from './der-writer.ts';
import { OcspMalformed } from './errors.ts';
import { OID_OCSP_ACCEPTABLE_RESPONSES, OID_OCSP_NONCE, OID_SHA1, OID_SHA256 } from './oids.ts';

export type CertIdHash = 'sha1' | 'sha256';

export interface OcspCertId {
  hashAlgorithm: CertIdHash;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  /**
   * Lowercase hex of the serial's value without leading zeros, as the CA stores it ("a1f…", never "0a1f…"). ''
   * when the serial cannot be one of ours — zero, negative or over 20 octets — so the responder answers unknown.
   */
  serial: string;
  /** The CertID TLV exactly as the client sent it: echoed in the SingleResponse. */
  der: Uint8Array;
}

export interface ParsedOcspRequest {
  certIds: OcspCertId[];
  /** The nonce (RFC 8954): the contents of the OCTET STRING inside extnValue, 1..128 octets. */
  nonce?: Uint8Array;
  /** optionalSignature was present. It is never verified. */
  signed: boolean;
}

export const MAX_CERT_IDS = 10;
/** RFC 8954 §2.1 / RFC 9654: responders must accept 1..32 octets and may accept up to 128; we accept 1..128. */
export const MIN_NONCE_OCTETS = 1;
export const MAX_NONCE_OCTETS = 128;
/** Serials longer than RFC 5280's 20 octets cannot be ours. */
export const MAX_SERIAL_OCTETS = 20;

const HASH_LENGTH: Record<CertIdHash, number> = { sha1: 20, sha256: 32 };
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  if (!(der instanceof Uint8Array)) throw new OcspMalformed('not a byte array');
  const top = new DerCursor(der, 0, der.length);
  const request = top.read(TAG.SEQUENCE, 'OCSPRequest');
  top.finish('OCSPRequest');

  const outer = top.inside(request);
  const tbs = outer.read(TAG.SEQUENCE, 'TBSRequest');
  const signed = outer.peekTag() === contextConstructed(0);
  if (signed) checkSignature(outer, outer.readAny('optionalSignature'));
  outer.finish('OCSPRequest');

  const t = outer.inside(tbs);
  if (t.peekTag() === contextConstructed(0)) checkVersion(t, t.readAny('version'));
  if (t.peekTag() === contextConstructed(1)) {
    const name = t.inside(t.readAny('requestorName'));
    // Every GeneralName alternative is context-tagged; its contents are never decoded.
    if ((name.readAny('requestorName').tag & 0xc0) !== 0x80) throw new OcspMalformed('requestorName: not a GeneralName');
    name.finish('requestorName');
  }
  const list = t.read(TAG.SEQUENCE, 'requestList');
  let nonce: Uint8Array | undefined;
  if (t.peekTag() === contextConstructed(2)) nonce = readRequestExtensions(t, t.readAny('requestExtensions'));
  t.finish('TBSRequest');

  const certIds: OcspCertId[] = [];
  const requests = t.inside(list);
  while (!requests.done) {
    if (certIds.length === MAX_CERT_IDS) throw new OcspMalformed(`more than ${MAX_CERT_IDS} CertIDs`);
    const r = requests.inside(requests.read(TAG.SEQUENCE, 'Request'));
    certIds.push(readCertId(r, r.read(TAG.SEQUENCE, 'CertID')));
    if (r.peekTag() === contextConstructed(0)) readExtensions(r, r.readAny('singleRequestExtensions'), 'singleRequestExtensions');
    r.finish('Request');
  }
  if (certIds.length === 0) throw new OcspMalformed('no CertID');
  return nonce ? { certIds, nonce, signed } : { certIds, signed };
}

function readCertId(parent: DerCursor, element: Element): OcspCertId {
  const c = parent.inside(element);
  const algorithm = c.inside(c.read(TAG.SEQUENCE, 'hashAlgorithm'));
  const oid = algorithm.read(TAG.OID, 'hashAlgorithm');
  let hashAlgorithm: CertIdHash;
  if (bytesAt(c.bytes, oid.start, oid.end, OID_SHA1)) hashAlgorithm = 'sha1';
  else if (bytesAt(c.bytes, oid.start, oid.end, OID_SHA256)) hashAlgorithm = 'sha256';
  else throw new OcspMalformed('unsupported CertID hash algorithm');
  // Parameters absent or NULL: both are seen in the wild (openssl sends NULL).
  if (!algorithm.done) {
    const parameters = algorithm.read(TAG.NULL, 'hashAlgorithm parameters');
    if (parameters.end !== parameters.start) throw new OcspMalformed('hashAlgorithm parameters: not NULL');
  }
  algorithm.finish('hashAlgorithm');

  const nameHash = c.read(TAG.OCTET_STRING, 'issuerNameHash');
  const keyHash = c.read(TAG.OCTET_STRING, 'issuerKeyHash');
  const hashLength = HASH_LENGTH[hashAlgorithm];
  if (nameHash.end - nameHash.start !== hashLength) throw new OcspMalformed('issuerNameHash: wrong length for its hash algorithm');
  if (keyHash.end - keyHash.start !== hashLength) throw new OcspMalformed('issuerKeyHash: wrong length for its hash algorithm');
  const serial = c.read(TAG.INTEGER, 'serialNumber');
  c.finish('CertID');
  return {
    hashAlgorithm,
    issuerNameHash: c.contents(nameHash),
    issuerKeyHash: c.contents(keyHash),
    serial: serialHex(c.bytes, serial.start, serial.end),
    der: c.whole(element),
  };
}

/** The DB spelling of a positive serial of at most 20 octets; '' for any other INTEGER. */
function serialHex(bytes: Uint8Array, start: number, end: number): string {
  if (end === start) throw new OcspMalformed('serialNumber: empty INTEGER');
  const first = bytes[start]!;
  if (end - start > 1) {
    const second = bytes[start + 1]!;
    if ((first === 0x00 && !(second & 0x80)) || (first === 0xff && second & 0x80)) throw new OcspMalformed('serialNumber: INTEGER not minimally encoded');
  }
  if (first & 0x80) return ''; // negative
  if (first === 0x00) start++; // the sign octet, or the whole of zero
  if (end === start || end - start > MAX_SERIAL_OCTETS) return '';
  let hex = HEX[bytes[start]!]!;
  if (hex[0] === '0') hex = hex[1]!;
  for (let i = start + 1; i < end; i++) hex += HEX[bytes[i]!]!;
  return hex;
}

function checkVersion(parent: DerCursor, element: Element): void {
  const v = parent.inside(element);
  const n = v.read(TAG.INTEGER, 'version');
  v.finish('version');
  // DER omits the DEFAULT v1; an explicit v1 is tolerated (harmless), anything else is a version we do not speak.
  if (n.end - n.start !== 1 || v.bytes[n.start] !== 0) throw new OcspMalformed('unsupported version');
}

/** Signature ::= SEQUENCE { AlgorithmIdentifier, BIT STRING, [0] certs OPTIONAL }: shape only, never verified. */
function checkSignature(parent: DerCursor, element: Element): void {
  const wrapper = parent.inside(element);
  const s = wrapper.inside(wrapper.read(TAG.SEQUENCE, 'optionalSignature'));
  wrapper.finish('optionalSignature');
  s.read(TAG.SEQUENCE, 'signatureAlgorithm');
  s.read(TAG.BIT_STRING, 'signature');
  if (s.peekTag() === contextConstructed(0)) s.readAny('certs');
  s.finish('optionalSignature');
}

function readRequestExtensions(parent: DerCursor, element: Element): Uint8Array | undefined {
  return readExtensions(parent, element, 'requestExtensions', true);
}

/**
 * Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, inside an EXPLICIT tag. Returns the nonce when asked for it.
 * A critical extension we do not act on makes the request malformed (RFC 5280 §4.2 semantics), and so do two
 * nonces (which one would we echo?); other repeats are harmless and not looked for. Acceptable Responses is understood: we only ever answer id-pkix-ocsp-basic, which every
 * client must accept (RFC 6960 §4.4.3).
 */
function readExtensions(parent: DerCursor, element: Element, what: string, nonceAllowed = false): Uint8Array | undefined {
  const wrapper = parent.inside(element);
  const list = wrapper.inside(wrapper.read(TAG.SEQUENCE, what));
  wrapper.finish(what);
  if (list.done) throw new OcspMalformed(`${what}: empty`);
  let nonce: Uint8Array | undefined;
  let nonceSeen = false;
  while (!list.done) {
    const x = list.inside(list.read(TAG.SEQUENCE, 'Extension'));
    const oid = x.read(TAG.OID, 'extnID');
    let critical = false;
    if (x.peekTag() === TAG.BOOLEAN) {
      const b = x.readAny('critical');
      const value = x.bytes[b.start];
      // DER says TRUE is 0xff and a FALSE default is omitted; an explicit FALSE is tolerated.
      if (b.end - b.start !== 1 || (value !== 0xff && value !== 0x00)) throw new OcspMalformed('critical: not a DER BOOLEAN');
      critical = value === 0xff;
    }
    const value = x.read(TAG.OCTET_STRING, 'extnValue');
    x.finish('Extension');

    if (nonceAllowed && bytesAt(x.bytes, oid.start, oid.end, OID_OCSP_NONCE)) {
      if (nonceSeen) throw new OcspMalformed(`${what}: two nonces`);
      nonceSeen = true;
      nonce = readNonce(x, value, critical);
    } else if (bytesAt(x.bytes, oid.start, oid.end, OID_OCSP_ACCEPTABLE_RESPONSES)) {
      // Understood, nothing to do.
    } else if (critical) {
      throw new OcspMalformed(`${what}: unsupported critical extension`);
    }
  }
  return nonce;
}

/**
 * RFC 8954: extnValue holds an OCTET STRING whose contents are the nonce — what OpenSSL ≥ 0.9.7d, Go, Java and
 * BouncyCastle send. The pre-2004 OpenSSL form (the raw nonce directly in extnValue) is not accepted: when
 * extnValue is not exactly one OCTET STRING the extension is treated as one we do not understand — ignored if
 * non-critical (the response carries no nonce, the client decides), malformed if critical. Echoing it back in the
 * standard form would not match anyway.
 */
function readNonce(parent: DerCursor, value: Element, critical: boolean): Uint8Array | undefined {
  const v = parent.inside(value);
  let inner: Element;
  try {
    inner = v.read(TAG.OCTET_STRING, 'nonce');
    v.finish('nonce');
  } catch (e) {
    if (critical || !(e instanceof OcspMalformed)) throw e;
    return undefined;
  }
  const length = inner.end - inner.start;
  if (length < MIN_NONCE_OCTETS || length > MAX_NONCE_OCTETS) {
    throw new OcspMalformed(`nonce: ${length === 0 ? 'empty' : `over ${MAX_NONCE_OCTETS} octets`}`);
  }
  return v.contents(inner);
}
