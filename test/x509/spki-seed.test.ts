// seedSpki: what CSR intake hands the SPKI cache must leave every answer as parseSpki(der) would give it.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { describe, expect, it } from 'vitest';
import { encodeTlv, readSingleTlv, readTlv, toBytes } from '../../ca/x509/der.ts';
import { parseSpki, seedSpki, spkiInfo } from '../../ca/x509/public-key.ts';

const spkiOf = (k: KeyObject) => Uint8Array.from(k.export({ format: 'der', type: 'spki' }));
const pair = (type: 'ec' | 'rsa' | 'ed25519', curve?: string) =>
  type === 'ec' ? generateKeyPairSync('ec', { namedCurve: curve! }) : type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');

describe('seedSpki', () => {
  it.each([
    ['EC P-256', () => pair('ec', 'P-256'), 'ec-p256'],
    ['EC P-384', () => pair('ec', 'P-384'), 'ec-p384'],
    ['RSA-2048', () => pair('rsa'), 'rsa-2048'],
  ] as const)('records a %s key as parseSpki reads it, building the ASN.1 object only when asked', (_what, make, keyType) => {
    const { publicKey } = make();
    const der = spkiOf(publicKey);
    seedSpki(der, publicKey);
    const hit = spkiInfo(der);
    expect(hit.key).toBe(publicKey); // the seeded entry, not a parse
    expect(hit.keyType).toBe(keyType);
    expect(toBytes(AsnConvert.serialize(hit.spki))).toEqual(der);
    const parsed = parseSpki(der);
    expect(parsed.subjectPublicKey).toEqual(hit.subjectPublicKey);
    expect(parsed.subjectPublicKey).toEqual(readSingleTlv(der).content.subarray(-hit.subjectPublicKey.length));
    expect(toBytes(AsnConvert.serialize(parsed.spki))).toEqual(der);
  });

  it('keeps its own copy: the caller changing its bytes afterwards changes nothing', () => {
    const { publicKey } = pair('ec', 'P-256');
    const der = spkiOf(publicKey);
    const original = der.slice();
    seedSpki(der, publicKey);
    der.fill(0);
    expect(toBytes(AsnConvert.serialize(spkiInfo(original).spki))).toEqual(original);
  });

  // Each of these, if recorded, would answer differently from parseSpki: a key type from the wrong KeyObject, or
  // an answer where parseSpki throws.
  const p256 = () => pair('ec', 'P-256').publicKey;
  it.each([
    ['an Ed25519 key (an algorithm intake never accepts)', () => spkiOf(pair('ed25519').publicKey), (der: Uint8Array) => expect(spkiInfo(der).keyType).toBe('ed25519')],
    ['an SPKI with a long-form length (BER)', () => {
      const der = spkiOf(p256());
      return Uint8Array.from([0x30, 0x81, der[1]!, ...der.subarray(2)]);
    }, (der: Uint8Array) => expect(() => spkiInfo(der)).toThrow(/SubjectPublicKeyInfo/)],
    ['a key BIT STRING with unused bits', () => {
      const spki = readSingleTlv(spkiOf(p256()));
      const alg = readTlv(spki.content);
      const point = spki.content.subarray(-65).slice();
      point[64]! &= 0xfe;
      return encodeTlv(0x30, Uint8Array.from([...alg.bytes, ...encodeTlv(0x03, Uint8Array.from([1, ...point]))]));
    }, (der: Uint8Array) => expect(() => spkiInfo(der)).toThrow(/SubjectPublicKeyInfo/)],
    ['an SPKI followed by a trailing byte', () => Uint8Array.from([...spkiOf(p256()), 0]), (der: Uint8Array) => expect(() => spkiInfo(der)).toThrow(/SubjectPublicKeyInfo/)],
    ['an SPKI with a field after the key', () => {
      const der = spkiOf(p256());
      return encodeTlv(0x30, Uint8Array.from([...readSingleTlv(der).content, 0x05, 0x00]));
    }, (der: Uint8Array) => expect(() => spkiInfo(der)).toThrow(/SubjectPublicKeyInfo/)],
  ] as [string, () => Uint8Array, (der: Uint8Array) => void][])('does not record %s', (_what, make, check) => {
    const der = make();
    seedSpki(der, p256());
    check(der);
  });
});
