/**
 * Ceremony inputs, read and judged before the HSM is opened: PEM public keys, certificates and CSRs, strictly
 * parsed (one block, canonical base64, DER inside), and every key checked against the only types a ceremony
 * certifies or signs with — RSA 2048/3072/4096 with e = 65537, ECDSA P-256/P-384. Each refusal names the config
 * field that pointed at the file.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { KeyUsageFlags } from '@peculiar/asn1-x509';
import type { KeyType } from '../../hsm/key-spec.ts';
import { findSignatureAlgorithm, fromPem, issuerInfo, parseSpki, verifyCertificate, type IssuerInfo, type PemLabel } from '../x509/index.ts';
import { bytesEqual, children, readSingleTlv, TAG_BIT_STRING } from '../x509/der.ts';
import { verifySignature } from '../x509/verify-signature.ts';
import { rawTbs, tbsFields } from '../x509/issuer.ts';
import type { CEREMONY_KEY_TYPES } from './config.ts';
import { refused } from './errors.ts';
import { sha256Hex } from './transcript-entry.ts';

export type CeremonyKeyType = (typeof CEREMONY_KEY_TYPES)[number];

export const ALLOWED_KEYS = 'ceremonies use RSA 2048/3072/4096 with e = 65537, or ECDSA P-256/P-384';

export interface InputFile {
  /** The config field that named it, e.g. "inputs.public-key". */
  field: string;
  /** As written in the config. */
  given: string;
  /** Resolved against the config file's directory. */
  path: string;
  /** SHA-256 of the file's bytes, for the transcript. */
  sha256: string;
}

export interface PublicKeyInput extends InputFile {
  spki: Uint8Array;
  keyType: CeremonyKeyType;
  spkiSha256: string;
}

export interface CertificateInput extends InputFile {
  der: Uint8Array;
  info: IssuerInfo;
  /** The certified key's type (already checked against the allowed list). */
  keyType: CeremonyKeyType;
  spkiSha256: string;
}

function readInput(field: string, given: string, baseDir: string): { text: string; file: InputFile } {
  const path = resolve(baseDir, given);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw refused(field, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (bytes.length > 1 << 20) throw refused(field, `${path} is too large to be a PEM input`);
  return { text: bytes.toString('utf8'), file: { field, given, path, sha256: sha256Hex(bytes) } };
}

function pem(field: string, path: string, text: string, label: PemLabel): Uint8Array {
  try {
    return fromPem(text, label);
  } catch (e) {
    throw refused(field, `${path}: ${(e as Error).message}`);
  }
}

/**
 * The key type of a DER SubjectPublicKeyInfo if a ceremony may use it; otherwise a refusal naming `field` and
 * saying what the key is (an RSA 1024-bit key, an EC key on secp224r1, an ed25519 key, …).
 */
export function ceremonyKeyType(spki: Uint8Array, field: string): CeremonyKeyType {
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (e) {
    throw refused(field, `not a readable public key (${(e as Error).message}); ${ALLOWED_KEYS}`);
  }
  const d = key.asymmetricKeyDetails ?? {};
  let type: CeremonyKeyType;
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      const bits = d.modulusLength ?? 0;
      if (bits !== 2048 && bits !== 3072 && bits !== 4096) throw refused(field, `an RSA ${bits}-bit key is refused: ${ALLOWED_KEYS}`);
      if (d.publicExponent !== 65537n) throw refused(field, `an RSA key with public exponent ${String(d.publicExponent)} is refused: ${ALLOWED_KEYS}`);
      type = `rsa-${bits}`;
      break;
    }
    case 'ec':
      if (d.namedCurve === 'prime256v1') type = 'ec-p256';
      else if (d.namedCurve === 'secp384r1') type = 'ec-p384';
      else throw refused(field, `an EC key on curve ${d.namedCurve ?? '(explicit parameters)'} is refused: ${ALLOWED_KEYS}`);
      break;
    default:
      throw refused(field, `a${key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? 'n' : ''} ${key.asymmetricKeyType ?? 'unknown'} key is refused: ${ALLOWED_KEYS}`);
  }
  try {
    // Strict DER: the certificate will carry these exact bytes.
    parseSpki(spki);
  } catch (e) {
    throw refused(field, `the public key is not in DER: ${(e as Error).message}`);
  }
  return type;
}

export function readPublicKeyInput(field: string, given: string, baseDir: string): PublicKeyInput {
  const { text, file } = readInput(field, given, baseDir);
  const spki = pem(field, file.path, text, 'PUBLIC KEY');
  return { ...file, spki, keyType: ceremonyKeyType(spki, field), spkiSha256: sha256Hex(spki) };
}

/**
 * A PKCS#10 request: its self-signature must verify (proof that whoever asked holds the private key); only its
 * public key is used — subject and extensions come from the reviewed config, never from the request.
 */
export async function readCsrInput(field: string, given: string, baseDir: string): Promise<PublicKeyInput> {
  const { text, file } = readInput(field, given, baseDir);
  const der = pem(field, file.path, text, 'CERTIFICATE REQUEST');
  let info: Uint8Array;
  let spki: Uint8Array;
  let algorithm: Uint8Array;
  let signature: Uint8Array;
  try {
    // CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
    const parts = children(readSingleTlv(der));
    if (parts.length !== 3 || parts[2]!.tag !== TAG_BIT_STRING || parts[2]!.content[0] !== 0) throw new Error('not a CertificationRequest');
    info = parts[0]!.bytes;
    algorithm = parts[1]!.bytes;
    signature = parts[2]!.content.subarray(1);
    // CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, attributes [0] }
    const fields = children(parts[0]!);
    if (fields.length < 3) throw new Error('CertificationRequestInfo has too few fields');
    spki = Uint8Array.from(fields[2]!.bytes);
  } catch (e) {
    throw refused(field, `${file.path} is not a PKCS#10 request: ${(e as Error).message}`);
  }
  const keyType = ceremonyKeyType(spki, field);
  const alg = findSignatureAlgorithm(algorithm);
  if (!alg) throw refused(field, 'the CSR is signed with an algorithm ceremonies do not accept');
  if (!verifySignature(alg, info, signature, parseSpki(spki).key)) {
    throw refused(field, "the CSR's self-signature does not verify: it was altered, or not made with the key it carries");
  }
  return { ...file, spki, keyType, spkiSha256: sha256Hex(spki) };
}

export interface CertificateInputOptions {
  /** It will issue certificates: must be a CA with keyCertSign. */
  issuesCertificates?: boolean;
  /** It will sign CRLs: must allow cRLSign. */
  signsCrls?: boolean;
}

export function readCertificateInput(field: string, given: string, baseDir: string, options: CertificateInputOptions = {}): CertificateInput {
  const { text, file } = readInput(field, given, baseDir);
  const der = pem(field, file.path, text, 'CERTIFICATE');
  let info: IssuerInfo;
  try {
    info = issuerInfo(der);
  } catch (e) {
    throw refused(field, `${file.path}: ${(e as Error).message}`);
  }
  const keyType = ceremonyKeyType(info.spki, field);
  // A self-signed certificate must carry a valid signature of its own: a corrupted root.pem is caught here.
  if (bytesEqual(info.subjectDer, tbsFields(rawTbs(der)).issuer.bytes)) {
    try {
      verifyCertificate(der, { issuerSpki: info.spki });
    } catch (e) {
      throw refused(field, `the self-signed certificate's signature does not verify: ${(e as Error).message}`);
    }
  }
  const { keyCertSign: KEY_CERT_SIGN, cRLSign: CRL_SIGN } = KeyUsageFlags;
  if (options.issuesCertificates && (!info.ca || (info.keyUsage !== undefined && !(info.keyUsage & KEY_CERT_SIGN)))) {
    throw refused(field, 'the issuer certificate is not a CA certificate allowed to sign certificates (basicConstraints cA, keyCertSign)');
  }
  if (options.signsCrls && info.keyUsage !== undefined && !(info.keyUsage & CRL_SIGN)) {
    throw refused(field, 'the issuer certificate does not allow signing CRLs (keyUsage cRLSign)');
  }
  return { ...file, der, info, keyType, spkiSha256: sha256Hex(info.spki) };
}

/** Key type check for a Signer-facing key type (KeyType includes ed25519, which ceremonies refuse). */
export function isCeremonyKeyType(t: KeyType | 'other'): t is CeremonyKeyType {
  return t === 'ec-p256' || t === 'ec-p384' || t === 'rsa-2048' || t === 'rsa-3072' || t === 'rsa-4096';
}
