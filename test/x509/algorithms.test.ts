// AlgorithmIdentifiers byte for byte as the CA/B Forum Baseline Requirements (7.1.3.2) list them, and the reverse
// mapping refusing every lookalike.
import { sha256WithRSAEncryption } from '@peculiar/asn1-rsa';
import { describe, expect, it } from 'vitest';
import type { SignatureAlgorithm } from '../../hsm/key-spec.ts';
import { algorithmIdentifierDer, findSignatureAlgorithm, hashOf, signatureAlgorithmOf, SIGNATURE_ALGORITHMS, X509Error } from '../../ca/x509/index.ts';
import { fromHex, hex } from './der-surgery.ts';

const BR: Record<SignatureAlgorithm, string> = {
  'ecdsa-sha256': '300a06082a8648ce3d040302',
  'ecdsa-sha384': '300a06082a8648ce3d040303',
  'rsa-pkcs1-sha256': '300d06092a864886f70d01010b0500',
  'rsa-pkcs1-sha384': '300d06092a864886f70d01010c0500',
  'rsa-pkcs1-sha512': '300d06092a864886f70d01010d0500',
  'rsa-pss-sha256':
    '304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120',
  'rsa-pss-sha384':
    '304106092a864886f70d01010a3034a00f300d06096086480165030402020500a11c301a06092a864886f70d010108300d06096086480165030402020500a203020130',
  'rsa-pss-sha512':
    '304106092a864886f70d01010a3034a00f300d06096086480165030402030500a11c301a06092a864886f70d010108300d06096086480165030402030500a203020140',
  ed25519: '300506032b6570',
};

describe('signature AlgorithmIdentifiers', () => {
  it.each(SIGNATURE_ALGORITHMS.map((a) => [a]))('%s encodes as the BRs list it and maps back', (alg) => {
    expect(hex(algorithmIdentifierDer(alg))).toBe(BR[alg]);
    expect(signatureAlgorithmOf(fromHex(BR[alg]))).toBe(alg);
  });

  it.each([
    ['PKCS#1 without the NULL', '300b06092a864886f70d01010b'],
    ['ECDSA with a NULL', '300c06082a8648ce3d0403020500'],
    ['Ed25519 with a NULL', '300706032b65700500'],
    ['PSS with a 20-byte salt', BR['rsa-pss-sha256'].replace(/a203020120$/, 'a203020114')],
    ['PSS with MGF1 over SHA-1', BR['rsa-pss-sha256'].replace('a11c301a06092a864886f70d010108300d06096086480165030402010500', 'a118301606092a864886f70d010108300906052b0e03021a0500')],
    ['SHA-1 with RSA', '300d06092a864886f70d0101050500'],
    ['sha512/256 with RSA', '300d06092a864886f70d0101100500'],
  ])('refuses %s', (_what, der) => {
    expect(findSignatureAlgorithm(fromHex(der))).toBeUndefined();
    expect(() => signatureAlgorithmOf(fromHex(der))).toThrow(X509Error);
  });

  it('knows the hash of each algorithm', () => {
    expect(hashOf('rsa-pss-sha384')).toBe('sha384');
    expect(hashOf('ecdsa-sha256')).toBe('sha256');
    expect(hashOf('ed25519')).toBeUndefined();
  });

  it('@peculiar/asn1-rsa still mislabels its sha256WithRSAEncryption constant (why algorithms.ts spells OIDs out)', () => {
    // If this fails upstream fixed it; the comment in algorithms.ts can go, the explicit OIDs can stay.
    expect(sha256WithRSAEncryption.algorithm).toBe('1.2.840.113549.1.1.16');
  });
});
