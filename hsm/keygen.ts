/**
 * Key generation inside the token, then proof by read-back that the token made what was asked: a key that is
 * not local, not always sensitive, extractable when it should not be, or of another size or curve is destroyed.
 */
import { pkcs11js, toHsmError, type Handle, type Pkcs11 } from './token.ts';
import { HsmError } from './errors.ts';
import { EC_PARAMS, ED25519_PARAMS, keyFamily, rsaBits, type KeyType } from './key-spec.ts';
import { bool, findObjects, getAttributes, readPublicKey } from './key-objects.ts';
import { spkiSha256 } from './public-key.ts';

const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;

export interface KeygenRequest {
  type: KeyType;
  label: string;
  /** Extractable only wrapped under a trusted key (CKA_WRAP_WITH_TRUSTED), for M-of-N backups. */
  backupCapable?: boolean;
}

/** The protective attributes as the token reports them after generation. */
export interface KeyProtection {
  token: boolean;
  private: boolean;
  sensitive: boolean;
  extractable: boolean;
  sign: boolean;
  decrypt: boolean;
  unwrap: boolean;
  derive: boolean;
  local: boolean;
  alwaysSensitive: boolean;
  neverExtractable: boolean;
  wrapWithTrusted: boolean;
}

export interface GeneratedKey {
  label: string;
  id: string;
  type: KeyType;
  spki: Buffer;
  spkiSha256: string;
  protection: KeyProtection;
}

const PROTECTION_ATTRS: Record<keyof KeyProtection, number> = {
  token: pkcs11js.CKA_TOKEN,
  private: pkcs11js.CKA_PRIVATE,
  sensitive: pkcs11js.CKA_SENSITIVE,
  extractable: pkcs11js.CKA_EXTRACTABLE,
  sign: pkcs11js.CKA_SIGN,
  decrypt: pkcs11js.CKA_DECRYPT,
  unwrap: pkcs11js.CKA_UNWRAP,
  derive: pkcs11js.CKA_DERIVE,
  local: pkcs11js.CKA_LOCAL,
  alwaysSensitive: pkcs11js.CKA_ALWAYS_SENSITIVE,
  neverExtractable: pkcs11js.CKA_NEVER_EXTRACTABLE,
  wrapWithTrusted: pkcs11js.CKA_WRAP_WITH_TRUSTED,
};

/** The protective attributes, plus those the token would not report (unsupported or withheld): read as false. */
function readProtectionReport(p: Pkcs11, session: Handle, privateKey: Handle): { protection: KeyProtection; unreported: (keyof KeyProtection)[] } {
  const a = getAttributes(p, session, privateKey, Object.values(PROTECTION_ATTRS));
  const protection = {} as KeyProtection;
  const unreported: (keyof KeyProtection)[] = [];
  for (const [name, type] of Object.entries(PROTECTION_ATTRS) as [keyof KeyProtection, number][]) {
    const value = bool(a, type);
    if (value === undefined) unreported.push(name);
    protection[name] = value ?? false;
  }
  return { protection, unreported };
}

export function readProtection(p: Pkcs11, session: Handle, privateKey: Handle): KeyProtection {
  return readProtectionReport(p, session, privateKey).protection;
}

/**
 * What a generated key's attributes must be; returns the first mismatch, or undefined. An attribute the token did
 * not report proves nothing either way, so a required one in `unreported` is a mismatch too.
 */
export function protectionProblem(got: KeyProtection, backupCapable: boolean, unreported: readonly (keyof KeyProtection)[] = []): string | undefined {
  const want: Partial<KeyProtection> = {
    token: true,
    private: true,
    sensitive: true,
    sign: true,
    decrypt: false,
    unwrap: false,
    derive: false,
    local: true,
    alwaysSensitive: true,
    extractable: backupCapable,
    neverExtractable: !backupCapable,
    ...(backupCapable ? { wrapWithTrusted: true } : {}),
  };
  for (const [name, value] of Object.entries(want)) {
    if (unreported.includes(name as keyof KeyProtection)) return `${name} is not reported by the token`;
    if (got[name as keyof KeyProtection] !== value) return `${name} is ${!value}, expected ${value}`;
  }
  return undefined;
}

function templates(req: KeygenRequest, id: Buffer): { mechanism: number; pub: pkcs11js.Template; priv: pkcs11js.Template } {
  const common = [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: req.label },
    { type: pkcs11js.CKA_ID, value: id },
  ];
  const pub: pkcs11js.Template = [...common, { type: pkcs11js.CKA_PRIVATE, value: false }, { type: pkcs11js.CKA_VERIFY, value: true }];
  const priv: pkcs11js.Template = [
    ...common,
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_SIGN, value: true },
    // SoftHSM2 (and some vendors) default these to true: a signing key must never decrypt, unwrap or derive.
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
    { type: pkcs11js.CKA_EXTRACTABLE, value: req.backupCapable === true },
  ];
  if (req.backupCapable) priv.push({ type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true });
  const family = keyFamily(req.type);
  if (family === 'rsa') {
    pub.push(
      { type: pkcs11js.CKA_MODULUS_BITS, value: rsaBits(req.type)! },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
      { type: pkcs11js.CKA_ENCRYPT, value: false },
      { type: pkcs11js.CKA_WRAP, value: false },
    );
    return { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN, pub, priv };
  }
  if (family === 'ec') {
    pub.push({ type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(EC_PARAMS[req.type as 'ec-p256'], 'hex') });
    return { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN, pub, priv };
  }
  pub.push({ type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(ED25519_PARAMS, 'hex') });
  return { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN, pub, priv };
}

export function generateKeyPair(p: Pkcs11, session: Handle, req: KeygenRequest): GeneratedKey {
  if (!req.label) throw new HsmError('bad-request', 'a key needs a label');
  // Labels name keys in URIs and configs: two keys with one label would make every later lookup ambiguous.
  if (findObjects(p, session, pkcs11js.CKO_PRIVATE_KEY, { label: req.label }).length > 0) {
    throw new HsmError('bad-request', `a private key labelled "${req.label}" already exists on this token`);
  }
  let id: Buffer;
  let pair: pkcs11js.KeyPair;
  try {
    id = p.C_GenerateRandom(session, Buffer.alloc(16));
    const t = templates(req, id);
    pair = p.C_GenerateKeyPair(session, { mechanism: t.mechanism }, t.pub, t.priv);
  } catch (e) {
    throw toHsmError(e, 'C_GenerateKeyPair');
  }
  try {
    return verifyGenerated(p, session, req, id, pair);
  } catch (e) {
    destroyQuietly(p, session, pair.privateKey);
    destroyQuietly(p, session, pair.publicKey);
    throw e;
  }
}

function verifyGenerated(p: Pkcs11, session: Handle, req: KeygenRequest, id: Buffer, pair: pkcs11js.KeyPair): GeneratedKey {
  const { protection, unreported } = readProtectionReport(p, session, pair.privateKey);
  const problem = protectionProblem(protection, req.backupCapable === true, unreported);
  if (problem) throw new HsmError('key-mismatch', `generated key refused and destroyed: ${problem}`);
  const pub = readPublicKey(p, session, pair.publicKey);
  if (pub.keyType !== req.type) throw new HsmError('key-mismatch', `generated key refused and destroyed: token made ${pub.keyType}, asked ${req.type}`);
  if (keyFamily(req.type) === 'rsa') {
    const e = getAttributes(p, session, pair.publicKey, [pkcs11js.CKA_PUBLIC_EXPONENT]).get(pkcs11js.CKA_PUBLIC_EXPONENT);
    if (!e || BigInt(`0x${e.toString('hex')}`) !== 65537n) throw new HsmError('key-mismatch', 'generated key refused and destroyed: public exponent is not 65537');
  }
  return { label: req.label, id: id.toString('hex'), type: req.type, spki: pub.spki, spkiSha256: spkiSha256(pub.spki), protection };
}

export function destroyQuietly(p: Pkcs11, session: Handle, handle: Handle): void {
  try {
    p.C_DestroyObject(session, handle);
  } catch {
    // Best effort: the caller is already reporting the reason.
  }
}
