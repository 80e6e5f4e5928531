/**
 * What a DER SubjectPublicKeyInfo is, as the lint and the signature check need it: the key type (to see whether an
 * algorithm fits), a Node KeyObject (to verify), and the subjectPublicKey bits (for key identifiers).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import type { KeyType } from '../../hsm/index.ts';
import { bytesEqual, readSingleTlv, readTlv, toBytes } from './der.ts';
import { X509Error } from './errors.ts';

export interface PublicKeyInfo {
  /** One of the key types Strongroom signs with, or undefined for another key (a subscriber's P-521, say). */
  keyType: KeyType | undefined;
  key: KeyObject;
  /** The BIT STRING contents without the unused-bits octet: what RFC 5280 key identifiers hash. */
  subjectPublicKey: Uint8Array;
  spki: SubjectPublicKeyInfo;
}

const CURVES: Record<string, KeyType> = { prime256v1: 'ec-p256', secp384r1: 'ec-p384' };

/**
 * Parsed SPKIs by content (base64 of the DER): the issuer's key is read for every certificate (TBS build, lint,
 * verification) and a subscriber's key three times per issuance, and each parse builds a KeyObject and an ASN.1
 * object. A pure function of the bytes, so a hit returns what a parse would; only successful parses are kept.
 * Bounded: the oldest entries go first.
 */
const CACHE_MAX = 1024;
const cache = new Map<string, PublicKeyInfo>();

const contentKey = (der: Uint8Array) => Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');

/**
 * The cached parse, shared: callers must not modify what it returns (the x509 hot paths only read it).
 * parseSpki hands out copies of the mutable parts.
 */
export function spkiInfo(der: Uint8Array): PublicKeyInfo {
  const key = contentKey(der);
  const hit = cache.get(key);
  if (hit) return hit;
  const info = parseSpkiUncached(der);
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, info);
  return info;
}

/**
 * Records what the CSR intake established about `der` — `key` is OpenSSL's KeyObject for exactly these bytes — so
 * issuing for that key does not parse it again. Only SPKIs of the form intake accepts are recorded: an
 * AlgorithmIdentifier from PLAIN_ALGORITHMS and a BIT STRING without unused bits, nothing else. The library parses
 * those and writes them back unchanged (it keeps the key octets as read), so a hit still answers what
 * parseSpki(der) would; its object is built only if someone reads it.
 */
export function seedSpki(der: Uint8Array, key: KeyObject): void {
  const cacheKey = contentKey(der);
  if (cache.has(cacheKey)) return;
  const subjectPublicKey = plainKeyBits(der);
  if (!subjectPublicKey) return;
  const bytes = Uint8Array.from(der);
  let spki: SubjectPublicKeyInfo | undefined;
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(cacheKey, {
    keyType: keyTypeOf(key),
    key,
    subjectPublicKey,
    get spki() {
      return (spki ??= AsnConvert.parse(bytes, SubjectPublicKeyInfo));
    },
  });
}

/** DER AlgorithmIdentifiers of the keys CSR intake accepts: rsaEncryption (NULL), EC P-256, EC P-384. */
const PLAIN_ALGORITHMS = ['300d06092a864886f70d0101010500', '301306072a8648ce3d020106082a8648ce3d030107', '301006072a8648ce3d020106052b81040022'].map(
  (hex) => Uint8Array.from(Buffer.from(hex, 'hex')),
);

/** The key octets of SEQUENCE { one of PLAIN_ALGORITHMS, BIT STRING with 0 unused bits }, or undefined. */
function plainKeyBits(der: Uint8Array): Uint8Array | undefined {
  try {
    const outer = readSingleTlv(der);
    const algorithm = readTlv(outer.content);
    const bits = readSingleTlv(outer.content.subarray(algorithm.bytes.length));
    if (outer.tag !== 0x30 || bits.tag !== 0x03 || bits.content[0] !== 0) return undefined;
    if (!PLAIN_ALGORITHMS.some((a) => bytesEqual(a, algorithm.bytes))) return undefined;
    return bits.content.slice(1);
  } catch {
    return undefined;
  }
}

export function parseSpki(der: Uint8Array): PublicKeyInfo {
  // Not a spread: that would read a seeded entry's lazy `spki`, which is replaced here anyway.
  const { keyType, key, subjectPublicKey } = spkiInfo(der);
  return { keyType, key, subjectPublicKey: subjectPublicKey.slice(), spki: AsnConvert.parse(der, SubjectPublicKeyInfo) };
}

function parseSpkiUncached(der: Uint8Array): PublicKeyInfo {
  let spki: SubjectPublicKeyInfo;
  let key: KeyObject;
  try {
    spki = AsnConvert.parse(der, SubjectPublicKeyInfo);
    key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch (e) {
    throw new X509Error('invalid-input', `not a usable SubjectPublicKeyInfo: ${(e as Error).message}`);
  }
  // The TBS carries the re-encoded object: if that differed from the input, the certificate would certify
  // different bytes than the key's owner handed us.
  if (!bytesEqual(toBytes(AsnConvert.serialize(spki)), der)) throw new X509Error('der', 'SubjectPublicKeyInfo is not in DER');
  return { keyType: keyTypeOf(key), key, subjectPublicKey: toBytes(spki.subjectPublicKey), spki };
}

function keyTypeOf(key: KeyObject): KeyType | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec':
      return CURVES[details.namedCurve ?? ''];
    case 'rsa': {
      const bits = details.modulusLength;
      return bits === 2048 || bits === 3072 || bits === 4096 ? (`rsa-${bits}` as KeyType) : undefined;
    }
    case 'ed25519':
      return 'ed25519';
    default:
      return undefined;
  }
}
