/**
 * Finding key objects and reading what they are. A key is named by CKA_LABEL ("object" in a PKCS#11 URI) and/or
 * CKA_ID; a selector that matches several keys is an error, never a guess.
 */
import { pkcs11js, toHsmError, type Handle, type Pkcs11 } from './token.ts';
import { HsmError } from './errors.ts';
import { CKR, ckrOf } from './ckr.ts';
import { EC_PARAMS, ED25519_PARAMS, type KeyType } from './key-spec.ts';
import { publicKeyObject, spkiDer } from './public-key.ts';

export interface KeySelector {
  label?: string;
  /** CKA_ID, lowercase hex. */
  id?: string;
}

export const CKK_EC_EDWARDS = 0x40;

export function describeKey(sel: KeySelector): string {
  return [sel.label !== undefined ? `object=${sel.label}` : '', sel.id !== undefined ? `id=${sel.id}` : ''].filter(Boolean).join(';');
}

export function findObjects(p: Pkcs11, session: Handle, objectClass: number, sel: KeySelector): Handle[] {
  // Token objects only: the pool's per-session key copies share label and id and must never be mistaken for keys.
  const template: pkcs11js.Template = [
    { type: pkcs11js.CKA_CLASS, value: objectClass },
    { type: pkcs11js.CKA_TOKEN, value: true },
  ];
  if (sel.label !== undefined) template.push({ type: pkcs11js.CKA_LABEL, value: sel.label });
  if (sel.id !== undefined) template.push({ type: pkcs11js.CKA_ID, value: Buffer.from(sel.id, 'hex') });
  try {
    p.C_FindObjectsInit(session, template);
    try {
      // One C_FindObjects returns at most a batch: ask until the token has nothing more.
      const found: Handle[] = [];
      for (let batch = p.C_FindObjects(session, 64); batch.length > 0; batch = p.C_FindObjects(session, 64)) found.push(...batch);
      return found;
    } finally {
      p.C_FindObjectsFinal(session);
    }
  } catch (e) {
    throw toHsmError(e, 'C_FindObjects');
  }
}

export function findOne(p: Pkcs11, session: Handle, objectClass: number, sel: KeySelector): Handle {
  if (sel.label === undefined && sel.id === undefined) throw new HsmError('bad-request', 'name the key by label (object=) or id');
  const found = findObjects(p, session, objectClass, sel);
  const what = objectClass === pkcs11js.CKO_PRIVATE_KEY ? 'private key' : 'public key';
  if (found.length === 0) throw new HsmError('key-not-found', `no ${what} ${describeKey(sel)}`);
  if (found.length > 1) throw new HsmError('bad-request', `${found.length} ${what}s match ${describeKey(sel)}; name it by id`);
  return found[0]!;
}

/**
 * Reads attributes one at a time: a type the object does not have (CKR_ATTRIBUTE_TYPE_INVALID) or may not reveal
 * (CKR_ATTRIBUTE_SENSITIVE) is simply absent from the result, instead of failing the whole read.
 */
export function getAttributes(p: Pkcs11, session: Handle, handle: Handle, types: number[]): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const type of types) {
    try {
      const [a] = p.C_GetAttributeValue(session, handle, [{ type }]);
      if (a && Buffer.isBuffer(a.value)) out.set(type, a.value);
    } catch (e) {
      const code = ckrOf(e);
      if (code === CKR.ATTRIBUTE_TYPE_INVALID || code === CKR.ATTRIBUTE_SENSITIVE) continue;
      throw toHsmError(e, 'C_GetAttributeValue');
    }
  }
  return out;
}

export function bool(attrs: Map<number, Buffer>, type: number): boolean | undefined {
  const v = attrs.get(type);
  return v === undefined || v.length === 0 ? undefined : v[0] !== 0;
}

export function ulong(v: Buffer | undefined): number | undefined {
  return v === undefined || v.length === 0 ? undefined : Number(v.readUIntLE(0, Math.min(v.length, 6)));
}

/** The key type from CKA_KEY_TYPE + curve / modulus size, or undefined for keys Strongroom does not use. */
export function keyTypeOf(ckKeyType: number | undefined, ecParams: Buffer | undefined, modulusBits: number | undefined): KeyType | undefined {
  if (ckKeyType === pkcs11js.CKK_EC && ecParams) {
    const hex = ecParams.toString('hex');
    if (hex === EC_PARAMS['ec-p256']) return 'ec-p256';
    if (hex === EC_PARAMS['ec-p384']) return 'ec-p384';
    return undefined;
  }
  if (ckKeyType === CKK_EC_EDWARDS && ecParams) {
    // "edwards25519" as PrintableString, or the id-Ed25519 OID 1.3.101.112
    return ecParams.toString('hex') === ED25519_PARAMS || ecParams.toString('hex') === '06032b6570' ? 'ed25519' : undefined;
  }
  if (ckKeyType === pkcs11js.CKK_RSA && modulusBits !== undefined) {
    return ([2048, 3072, 4096] as const).includes(modulusBits as 2048) ? (`rsa-${modulusBits}` as KeyType) : undefined;
  }
  return undefined;
}

export interface PublicKeyInfo {
  handle: Handle;
  keyType: KeyType;
  spki: Buffer;
}

/** Reads a public key object into SPKI. Only public material is ever read. */
export function readPublicKey(p: Pkcs11, session: Handle, handle: Handle): PublicKeyInfo {
  const a = getAttributes(p, session, handle, [pkcs11js.CKA_KEY_TYPE, pkcs11js.CKA_EC_PARAMS, pkcs11js.CKA_EC_POINT, pkcs11js.CKA_MODULUS, pkcs11js.CKA_PUBLIC_EXPONENT]);
  const modulus = a.get(pkcs11js.CKA_MODULUS);
  const keyType = keyTypeOf(ulong(a.get(pkcs11js.CKA_KEY_TYPE)), a.get(pkcs11js.CKA_EC_PARAMS), modulus ? bitLength(modulus) : undefined);
  if (!keyType) throw new HsmError('key-mismatch', 'the public key is of a type Strongroom does not use');
  const key = publicKeyObject({ keyType, ecPoint: a.get(pkcs11js.CKA_EC_POINT), modulus, publicExponent: a.get(pkcs11js.CKA_PUBLIC_EXPONENT) });
  return { handle, keyType, spki: spkiDer(key) };
}

export function bitLength(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  if (i === n.length) return 0;
  return (n.length - i) * 8 - Math.clz32(n[i]!) + 24;
}
