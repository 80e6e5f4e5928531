/**
 * CSR intake for POST /v1/certificates — everything before policy. In order:
 *
 *  1. size: more than 64 KiB → too_large, before a byte is decoded;
 *  2. PEM (exactly one CERTIFICATE REQUEST / NEW CERTIFICATE REQUEST block) or DER;
 *  3. strict DER pre-walk (iterative, depth ≤ 32, ≤ 1024 elements, definite minimal lengths, no trailing bytes);
 *     the subject decoded from the raw bytes (≤ 32 attributes; bad_name for smuggled values: NUL, controls,
 *     invalid UTF-8, two CNs);
 *  4. the CertificationRequest schema: what parsing and re-encoding it with @peculiar/asn1-csr would refuse, checked
 *     on the raw bytes (schema.ts) → bad_csr; an absent attributes field is refused here too (RFC 2986 requires it);
 *  5. the signature algorithm (MD5, SHA-1, SHA-224, DSA and unknown ones → bad_csr);
 *  6. the public key (weak_key; DSA → bad_csr) — before the signature, so a key we refuse is answered weak_key
 *     even when OpenSSL could not have verified with it (off-curve point, even exponent);
 *  7. the self-signature → bad_csr;
 *  8. the extension request: subjectAltName (bad_name for structural smuggling), extensions (bad_csr for an
 *     unknown critical one, duplicates, malformed values).
 *
 * Whether the key is the CA's own or was revoked for keyCompromise needs the database: checkKeyNotBlocked.
 * Every failure is a CsrError whose message is fixed text plus numbers and OIDs — safe to send back.
 */
import { seedSpki } from '../x509/public-key.ts';
import { checkDer, DEFAULT_MAX_DEPTH, DEFAULT_MAX_ELEMENTS, elementBudget, expectChildren, integerOf, tlvOf } from './der.ts';
import { badCsr, CsrError } from './errors.ts';
import { MAX_OTHER_EXTENSION_ELEMENTS, readAttributes, type RequestedExtension } from './extensions.ts';
import { CSR_MAX_BYTES, csrInputBytes } from './input.ts';
import { decodeSubject, type RequestedNames, type SubjectAttribute } from './names.ts';
import { analysePublicKey, type CsrPublicKey } from './public-key.ts';
import { checkCsrSchema } from './schema.ts';
import { signatureScheme, verifyCsrSignature, type CsrSignatureAlgorithm } from './signature.ts';

export interface ParseCsrOptions {
  /** Default 64 KiB (the HTTP layer's body limit). */
  maxBytes?: number;
  /** Default 32. */
  maxDepth?: number;
  /** TLVs allowed in the CSR, and again in the subjectAltName value. Default 1024. */
  maxElements?: number;
}

export interface ParsedCsr {
  /** The CSR's DER (decoded from PEM when PEM was given). */
  der: Uint8Array;
  /** Subject attributes in order: [short name (CN, O, …) or dotted OID, value]. Multi-valued RDNs are flattened. */
  subject: SubjectAttribute[];
  /** The subject Name's DER. */
  subjectDer: Uint8Array;
  /** The subject's CN, when it has one (more than one is refused). */
  cn?: string;
  publicKey: CsrPublicKey;
  signatureAlgorithm: CsrSignatureAlgorithm;
  /** The names the subjectAltName of the extension request asks for, unvalidated (that is policy's job). */
  requested: RequestedNames;
  /** Every requested extension, for the audit log; the certificate carries only the profile's extensions. */
  requestedExtensions: RequestedExtension[];
  /** OIDs of attributes other than the extension request (challengePassword, …), ignored. */
  otherAttributes: string[];
}

export function parseCsr(input: string | Uint8Array, opts: ParseCsrOptions = {}): ParsedCsr {
  try {
    return parse(input, opts);
  } catch (e) {
    if (e instanceof CsrError) throw e;
    // A library failing in a way we did not foresee is still the input's fault, and its message may quote the
    // input: replace it.
    throw badCsr('the CSR could not be parsed');
  }
}

function parse(input: string | Uint8Array, opts: ParseCsrOptions): ParsedCsr {
  const { maxBytes = CSR_MAX_BYTES, maxDepth = DEFAULT_MAX_DEPTH, maxElements = DEFAULT_MAX_ELEMENTS } = opts;
  const der = Uint8Array.from(csrInputBytes(input, maxBytes));
  checkDer(der, { maxDepth, budget: elementBudget(maxElements), what: 'CSR DER' });

  const [info, algId, signature] = expectChildren(tlvOf(der, 'CSR'), 0x30, 'CertificationRequest', 3);
  const [version, subject, spki, attributes] = expectChildren(info!, 0x30, 'CertificationRequestInfo', 3, 4);
  if (integerOf(version!, 'CSR version') !== 0n) throw badCsr('CSR version must be 1 (0)');
  // RFC 2986 makes the [0] attributes field mandatory (openssl, Go and BouncyCastle write `a0 00` when empty).
  if (!attributes) throw badCsr('CertificationRequestInfo: the attributes field is missing (required, even if empty)');
  if (attributes.tag !== 0xa0) throw badCsr('CertificationRequestInfo: unexpected field');
  if (signature!.tag !== 0x03) throw badCsr('CSR signature is not a BIT STRING');

  // Names are read before the schema check: where that check hands the CSR to the library (schema.ts), the library
  // decodes UTF8String and BMPString lossily, and would report a smuggled name as mere non-DER.
  const { subject: subjectAttributes, cn } = decodeSubject(subject!);

  checkCsrSchema(der, { algId: algId!, subject: subject!, spki: spki!, attributes, signature: signature! }, maxDepth);

  const scheme = signatureScheme(algId!);
  const { info: publicKey, key } = analysePublicKey(spki!);
  if (scheme.family !== publicKey.family) throw badCsr('the signature algorithm does not fit the key type');
  if (!verifyCsrSignature(scheme, info!.bytes, signature!.content.subarray(1), key)) {
    throw badCsr('the CSR signature does not verify with its public key');
  }

  // Issuing for this key reads it again (SKI, TBS, lint): hand over what was just established about it.
  seedSpki(publicKey.spki, key);

  const { requested, requestedExtensions, otherAttributes } = readAttributes(attributes, {
    maxDepth,
    sanBudget: elementBudget(maxElements),
    otherBudget: elementBudget(Math.min(maxElements, MAX_OTHER_EXTENSION_ELEMENTS)),
  });
  return {
    der,
    subject: subjectAttributes,
    subjectDer: Uint8Array.from(subject!.bytes),
    ...(cn !== undefined ? { cn } : {}),
    publicKey,
    signatureAlgorithm: scheme.name,
    requested,
    requestedExtensions,
    otherAttributes,
  };
}
