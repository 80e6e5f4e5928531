/**
 * Our signature algorithms ↔ their AlgorithmIdentifiers, encoded exactly as the CA/Browser Forum Baseline
 * Requirements (7.1.3.2) list them: ECDSA and Ed25519 without parameters, RSA PKCS#1 v1.5 with NULL, RSASSA-PSS
 * with explicit parameters (hash with NULL, MGF1 over the same hash, salt = hash length, default trailer). Reading
 * one back is a byte comparison with that canonical form, so a lookalike encoding (absent NULL, other salt, SHA-1
 * MGF) is refused instead of being verified with parameters it does not say.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { id_mgf1, id_RSASSA_PSS, RsaSaPssParams } from '@peculiar/asn1-rsa';
import { SIGNATURE_ALGORITHMS, type SignatureAlgorithm } from '../../hsm/key-spec.ts';
import { bytesEqual, toBytes } from './der.ts';
import { X509Error } from './errors.ts';

export type HashName = 'sha256' | 'sha384' | 'sha512';

// OIDs written out here rather than taken from @peculiar/asn1-rsa's prebuilt AlgorithmIdentifiers: in 2.11.1 its
// `sha256WithRSAEncryption` constant carries the sha512/256 OID (…1.1.16). Tests pin the bytes.
const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  sha384WithRSA: '1.2.840.113549.1.1.12',
  sha512WithRSA: '1.2.840.113549.1.1.13',
  ed25519: '1.3.101.112',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const;

const HASH_LENGTH: Record<HashName, number> = { sha256: 32, sha384: 48, sha512: 64 };

export { SIGNATURE_ALGORITHMS };

/** The digest the algorithm signs over; undefined for Ed25519, which hashes internally. */
export function hashOf(alg: SignatureAlgorithm): HashName | undefined {
  return alg === 'ed25519' ? undefined : (alg.slice(alg.lastIndexOf('-') + 1) as HashName);
}

function hashIdentifier(hash: HashName): AlgorithmIdentifier {
  // NULL parameters in the PSS hash and MGF1 identifiers: what the BRs, Go and OpenSSL emit.
  return new AlgorithmIdentifier({ algorithm: OID[hash], parameters: null });
}

function pssParameters(hash: HashName): ArrayBuffer {
  return AsnConvert.serialize(
    new RsaSaPssParams({
      hashAlgorithm: hashIdentifier(hash),
      maskGenAlgorithm: new AlgorithmIdentifier({ algorithm: id_mgf1, parameters: AsnConvert.serialize(hashIdentifier(hash)) }),
      saltLength: HASH_LENGTH[hash],
      trailerField: 1, // the default: the serializer leaves it out, as DER requires
    }),
  );
}

export function algorithmIdentifier(alg: SignatureAlgorithm): AlgorithmIdentifier {
  switch (alg) {
    case 'ecdsa-sha256':
      return new AlgorithmIdentifier({ algorithm: OID.ecdsaSha256 });
    case 'ecdsa-sha384':
      return new AlgorithmIdentifier({ algorithm: OID.ecdsaSha384 });
    case 'rsa-pkcs1-sha256':
      return new AlgorithmIdentifier({ algorithm: OID.sha256WithRSA, parameters: null });
    case 'rsa-pkcs1-sha384':
      return new AlgorithmIdentifier({ algorithm: OID.sha384WithRSA, parameters: null });
    case 'rsa-pkcs1-sha512':
      return new AlgorithmIdentifier({ algorithm: OID.sha512WithRSA, parameters: null });
    case 'rsa-pss-sha256':
    case 'rsa-pss-sha384':
    case 'rsa-pss-sha512':
      return new AlgorithmIdentifier({ algorithm: id_RSASSA_PSS, parameters: pssParameters(hashOf(alg)!) });
    case 'ed25519':
      return new AlgorithmIdentifier({ algorithm: OID.ed25519 });
    default:
      throw new X509Error('unsupported-algorithm', `no AlgorithmIdentifier for ${String(alg)}`);
  }
}

const CANONICAL = new Map(SIGNATURE_ALGORITHMS.map((alg) => [alg, toBytes(AsnConvert.serialize(algorithmIdentifier(alg)))]));

/** The canonical DER (a copy: every TBS and certificate carries one). */
export function algorithmIdentifierDer(alg: SignatureAlgorithm): Uint8Array {
  const der = CANONICAL.get(alg);
  if (!der) throw new X509Error('unsupported-algorithm', `no AlgorithmIdentifier for ${String(alg)}`);
  return der.slice();
}

/** The algorithm an AlgorithmIdentifier names, or undefined unless it is byte for byte one of ours. */
export function findSignatureAlgorithm(ai: AlgorithmIdentifier | Uint8Array): SignatureAlgorithm | undefined {
  const der = ai instanceof Uint8Array ? ai : toBytes(AsnConvert.serialize(ai));
  for (const [alg, canonical] of CANONICAL) if (bytesEqual(der, canonical)) return alg;
  return undefined;
}

export function signatureAlgorithmOf(ai: AlgorithmIdentifier | Uint8Array): SignatureAlgorithm {
  const alg = findSignatureAlgorithm(ai);
  if (!alg) {
    const oid = ai instanceof Uint8Array ? 'DER' : ai.algorithm;
    throw new X509Error('unsupported-algorithm', `not a signature algorithm we use (or not in its canonical encoding): ${oid}`);
  }
  return alg;
}
