/**
 * The key store: key management on the calling thread (generate, list, read public keys, random bytes). Rare,
 * operator-driven operations; signing at volume goes through the session pool instead.
 */
import { HsmError } from './errors.ts';
import { generateKeyPair, readProtection, type GeneratedKey, type KeygenRequest, type KeyProtection } from './keygen.ts';
import { findObjects, findOne, getAttributes, readPublicKey, type KeySelector } from './key-objects.ts';
import type { KeyType } from './key-spec.ts';
import { LoginGate } from './login-gate.ts';
import { formatPkcs11Uri } from './pkcs11-uri.ts';
import { spkiSha256 } from './public-key.ts';
import { closeQuietly, findSlot, isLoggedIn, loadModule, login, openSession, pkcs11js, toHsmError, tokenLabel, type Handle, type Pkcs11, type TokenSelector } from './token.ts';

export interface KeyInfo {
  label: string;
  id: string;
  type: KeyType | 'other';
  spki?: Buffer;
  spkiSha256?: string;
  protection: KeyProtection;
  uri: string;
}

export interface TokenDescription {
  label: string;
  serial: string;
  manufacturer: string;
  model: string;
}

export interface KeyStore {
  token(): TokenDescription;
  generate(req: KeygenRequest): GeneratedKey;
  list(): KeyInfo[];
  publicKey(sel: KeySelector): { keyType: KeyType; spki: Buffer; spkiSha256: string };
  random(bytes: number): Buffer;
  /** Destroys a private key and the public key objects with its label and id (rotated service keys). */
  destroy(sel: KeySelector): { label: string; id: string; publicKeys: number };
  close(): void;
}

export interface KeyStoreOptions {
  module: string;
  token: TokenSelector;
  pin: string;
}

export class Pkcs11KeyStore implements KeyStore {
  private constructor(
    private readonly p: Pkcs11,
    private readonly slot: Handle,
    private session: Handle,
  ) {}

  /** Opens a read-write session and logs in: one attempt; a wrong PIN is an 'auth' error and is never retried. */
  static open(options: KeyStoreOptions): Pkcs11KeyStore {
    const p = loadModule(options.module);
    const slot = findSlot(p, options.token);
    const session = openSession(p, slot, true);
    try {
      if (!isLoggedIn(p, session)) {
        new LoginGate(LoginGate.create()).run(
          () => login(p, session, options.pin),
          () => undefined,
          () => undefined,
        );
      }
    } catch (e) {
      closeQuietly(p, session);
      throw e;
    }
    return new Pkcs11KeyStore(p, slot, session);
  }

  token(): TokenDescription {
    const info = this.p.C_GetTokenInfo(this.slot);
    return { label: tokenLabel(info.label), serial: info.serialNumber.trim(), manufacturer: info.manufacturerID.trim(), model: info.model.trim() };
  }

  generate(req: KeygenRequest): GeneratedKey {
    return generateKeyPair(this.p, this.session, req);
  }

  list(): KeyInfo[] {
    const token = this.token();
    return findObjects(this.p, this.session, pkcs11js.CKO_PRIVATE_KEY, {}).map((handle) => {
      const a = getAttributes(this.p, this.session, handle, [pkcs11js.CKA_LABEL, pkcs11js.CKA_ID]);
      const label = a.get(pkcs11js.CKA_LABEL)?.toString('utf8') ?? '';
      const id = a.get(pkcs11js.CKA_ID)?.toString('hex') ?? '';
      const protection = readProtection(this.p, this.session, handle);
      const uri = formatPkcs11Uri({ token: token.label, object: label, id, type: 'private' });
      try {
        const pub = readPublicKey(this.p, this.session, findOne(this.p, this.session, pkcs11js.CKO_PUBLIC_KEY, { label, id }));
        return { label, id, type: pub.keyType, spki: pub.spki, spkiSha256: spkiSha256(pub.spki), protection, uri };
      } catch {
        return { label, id, type: 'other' as const, protection, uri };
      }
    });
  }

  publicKey(sel: KeySelector): { keyType: KeyType; spki: Buffer; spkiSha256: string } {
    // The private key must exist too: a lone public key object is not something we can sign with.
    findOne(this.p, this.session, pkcs11js.CKO_PRIVATE_KEY, sel);
    const pub = readPublicKey(this.p, this.session, findOne(this.p, this.session, pkcs11js.CKO_PUBLIC_KEY, sel));
    return { keyType: pub.keyType, spki: pub.spki, spkiSha256: spkiSha256(pub.spki) };
  }

  random(bytes: number): Buffer {
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1024) throw new HsmError('bad-request', 'random: 1 to 1024 bytes');
    try {
      return this.p.C_GenerateRandom(this.session, Buffer.alloc(bytes));
    } catch (e) {
      throw toHsmError(e, 'C_GenerateRandom');
    }
  }

  destroy(sel: KeySelector): { label: string; id: string; publicKeys: number } {
    // The same session and login as the rest of the store: no C_Logout, which would log out the pool's workers too.
    const handle = findOne(this.p, this.session, pkcs11js.CKO_PRIVATE_KEY, sel);
    const a = getAttributes(this.p, this.session, handle, [pkcs11js.CKA_LABEL, pkcs11js.CKA_ID]);
    const label = a.get(pkcs11js.CKA_LABEL)?.toString('utf8') ?? '';
    const id = a.get(pkcs11js.CKA_ID)?.toString('hex') ?? '';
    const publics = findObjects(this.p, this.session, pkcs11js.CKO_PUBLIC_KEY, { label, id });
    try {
      this.p.C_DestroyObject(this.session, handle);
      for (const pub of publics) this.p.C_DestroyObject(this.session, pub);
    } catch (e) {
      throw toHsmError(e, 'C_DestroyObject');
    }
    return { label, id, publicKeys: publics.length };
  }

  close(): void {
    // Sessions only: C_Finalize would pull the module from under the pool's workers in this process.
    closeQuietly(this.p, this.session);
  }
}
