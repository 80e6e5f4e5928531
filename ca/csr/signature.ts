/**
 * The CSR's self-signature: which algorithms we accept, and verification in Node's crypto (OpenSSL).
 *
 * Accepted: ECDSA with SHA-256/384/512 (parameters absent), RSA PKCS#1 v1.5 with SHA-256/384/512 (NULL or —
 * as RFC 4055 asks verifiers to tolerate — absent parameters), RSASSA-PSS with SHA-256/384/512, MGF1 over the
 * same hash, any salt length, trailer 1, and Ed25519 (so an Ed25519 CSR is answered weak_key for its key type,
 * not bad_csr for its algorithm). Refused as bad_csr: MD2/MD4/MD5, SHA-1 (including PSS's SHA-1 defaults),
 * SHA-224, DSA, anything else.
 */
import { constants, verify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { id_mgf1, RsaSaPssParams } from '@peculiar/asn1-rsa';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { bytesEqual, toBytes } from '../x509/der.ts';
import { expectChildren, oidOf, type Tlv } from './der.ts';
import { badCsr } from './errors.ts';

type Hash = 'sha256' | 'sha384' | 'sha512';
export type CsrSignatureAlgorithm = `ecdsa-${Hash}` | `rsa-pkcs1-${Hash}` | `rsa-pss-${Hash}` | 'ed25519';

export interface SignatureScheme {
  name: CsrSignatureAlgorithm;
  family: 'ec' | 'rsa' | 'ed25519';
  hash: Hash | null;
  /** RSA-PSS only: the salt length the parameters state. */
  saltLength?: number;
}

const HASH_OIDS: Record<string, Hash> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

const ECDSA: Record<string, Hash> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};
const RSA_PKCS1: Record<string, Hash> = {
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};
const OID_PSS = '1.2.840.113549.1.1.10';
const OID_ED25519 = '1.3.101.112';

const REFUSED: Record<string, string> = {
  '1.2.840.113549.1.1.2': 'MD2 signatures are not accepted',
  '1.2.840.113549.1.1.3': 'MD4 signatures are not accepted',
  '1.2.840.113549.1.1.4': 'MD5 signatures are not accepted',
  '1.2.840.113549.1.1.5': 'SHA-1 signatures are not accepted',
  '1.3.14.3.2.29': 'SHA-1 signatures are not accepted',
  '1.2.840.10045.4.1': 'SHA-1 signatures are not accepted',
  '1.2.840.10040.4.3': 'DSA signatures are not accepted',
  '2.16.840.1.101.3.4.3.1': 'DSA signatures are not accepted',
  '2.16.840.1.101.3.4.3.2': 'DSA signatures are not accepted',
  '2.16.840.1.101.3.4.3.3': 'DSA signatures are not accepted',
  '2.16.840.1.101.3.4.3.4': 'DSA signatures are not accepted',
  '1.2.840.113549.1.1.14': 'SHA-224 signatures are not accepted',
  '1.2.840.10045.4.3.1': 'SHA-224 signatures are not accepted',
};

/** The signatureAlgorithm TLV → an accepted scheme, or CsrError bad_csr. */
export function signatureScheme(algId: Tlv): SignatureScheme {
  const [oidTlv, params] = expectChildren(algId, 0x30, 'signature algorithm', 1, 2);
  const oid = oidOf(oidTlv!, 'signature algorithm');
  const refused = REFUSED[oid];
  if (refused) throw badCsr(refused);
  const ecdsa = ECDSA[oid];
  if (ecdsa) {
    if (params) throw badCsr('ECDSA signature algorithm must not have parameters');
    return { name: `ecdsa-${ecdsa}`, family: 'ec', hash: ecdsa };
  }
  const pkcs1 = RSA_PKCS1[oid];
  if (pkcs1) {
    if (params && params.tag !== 0x05) throw badCsr('RSA signature algorithm parameters must be NULL');
    return { name: `rsa-pkcs1-${pkcs1}`, family: 'rsa', hash: pkcs1 };
  }
  if (oid === OID_ED25519) {
    if (params) throw badCsr('Ed25519 signature algorithm must not have parameters');
    return { name: 'ed25519', family: 'ed25519', hash: null };
  }
  if (oid === OID_PSS) return pssScheme(params);
  throw badCsr(`signature algorithm ${oid} is not accepted`);
}

function pssScheme(params: Tlv | undefined): SignatureScheme {
  if (!params || params.tag !== 0x30) throw badCsr('RSASSA-PSS without parameters means SHA-1, which is not accepted');
  let p: RsaSaPssParams;
  try {
    p = AsnConvert.parse(params.bytes, RsaSaPssParams);
  } catch {
    throw badCsr('RSASSA-PSS parameters are malformed');
  }
  if (!bytesEqual(toBytes(AsnConvert.serialize(p)), params.bytes)) throw badCsr('RSASSA-PSS parameters are not DER');
  const hash = HASH_OIDS[p.hashAlgorithm.algorithm];
  if (!hash || !nullOrAbsent(p.hashAlgorithm)) throw badCsr('RSASSA-PSS hash must be SHA-256, SHA-384 or SHA-512');
  if (p.maskGenAlgorithm.algorithm !== id_mgf1 || !p.maskGenAlgorithm.parameters) throw badCsr('RSASSA-PSS mask generation must be MGF1');
  let mgfHash: AlgorithmIdentifier;
  try {
    mgfHash = AsnConvert.parse(p.maskGenAlgorithm.parameters, AlgorithmIdentifier);
  } catch {
    throw badCsr('RSASSA-PSS MGF1 parameters are malformed');
  }
  if (HASH_OIDS[mgfHash.algorithm] !== hash || !nullOrAbsent(mgfHash)) throw badCsr('RSASSA-PSS MGF1 must use the same hash as the signature');
  if (p.trailerField !== 1) throw badCsr('RSASSA-PSS trailer field must be 1');
  if (!Number.isSafeInteger(p.saltLength) || p.saltLength < 0 || p.saltLength > 1024) throw badCsr('RSASSA-PSS salt length out of range');
  return { name: `rsa-pss-${hash}`, family: 'rsa', hash, saltLength: p.saltLength };
}

function nullOrAbsent(ai: AlgorithmIdentifier): boolean {
  const p = ai.parameters;
  return p === undefined || p === null || (p.byteLength === 2 && new Uint8Array(p)[0] === 0x05 && new Uint8Array(p)[1] === 0x00);
}

export function verifyCsrSignature(scheme: SignatureScheme, tbs: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  try {
    if (scheme.name.startsWith('rsa-pss-')) {
      return verify(scheme.hash, tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength! }, signature);
    }
    if (scheme.family === 'rsa') return verify(scheme.hash, tbs, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    if (scheme.family === 'ec') return verify(scheme.hash, tbs, { key, dsaEncoding: 'der' }, signature);
    return verify(null, tbs, key, signature);
  } catch {
    // OpenSSL throws on some malformed signatures (wrong length, bad DER) instead of answering false.
    return false;
  }
}
