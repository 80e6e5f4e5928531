// The WebCrypto adapter: @peculiar/x509 builds certificates and CSRs whose signatures are made in SoftHSM2
// through the session pool; they are checked by @peculiar/x509 itself and by the openssl CLI.
import { spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmError, hsmCrypto, Pkcs11KeyStore, PoolSigner, SessionPool, type GeneratedKey, type KeyType, type SignatureAlgorithm } from '../../hsm/index.ts';
import { SOFTHSM_MODULE } from '../../hsm/soft-token.ts';
import { signatureAlgorithmOf } from '../../hsm/webcrypto-signer.ts';
import { createTestToken } from '../support/token.ts';

type Crypto = webcrypto.Crypto;

interface Case {
  type: KeyType;
  algorithm: SignatureAlgorithm;
  /** How `openssl x509 -text` names the certificate's signature algorithm. */
  openssl: string;
}

const CASES: Case[] = [
  { type: 'ec-p256', algorithm: 'ecdsa-sha256', openssl: 'ecdsa-with-SHA256' },
  { type: 'ec-p384', algorithm: 'ecdsa-sha384', openssl: 'ecdsa-with-SHA384' },
  { type: 'rsa-2048', algorithm: 'rsa-pkcs1-sha256', openssl: 'sha256WithRSAEncryption' },
  { type: 'rsa-2048', algorithm: 'rsa-pss-sha256', openssl: 'rsassaPss' },
  { type: 'ed25519', algorithm: 'ed25519', openssl: 'ED25519' },
];

/**
 * @peculiar/x509 resolves its algorithms through tsyringe, which refuses to load without a Reflect metadata
 * polyfill (its README: "Reflect Polyfill Required"), and none (reflect-metadata, core-js, ...) is installed. This
 * is the least of one that tsyringe uses (define / get / getOwn), installed before the library is first imported.
 */
function installReflectMetadata(): void {
  const R = Reflect as unknown as Record<string, unknown>;
  if (typeof R.getMetadata === 'function') return;
  type Key = string | symbol | undefined;
  const store = new WeakMap<object, Map<Key, Map<unknown, unknown>>>();
  const table = (target: object, prop: Key, create: boolean): Map<unknown, unknown> | undefined => {
    let byProp = store.get(target);
    if (!byProp && create) store.set(target, (byProp = new Map()));
    let t = byProp?.get(prop);
    if (!t && create && byProp) byProp.set(prop, (t = new Map()));
    return t;
  };
  R.defineMetadata = (key: unknown, value: unknown, target: object, prop?: Key) => void table(target, prop, true)!.set(key, value);
  R.hasOwnMetadata = (key: unknown, target: object, prop?: Key) => table(target, prop, false)?.has(key) ?? false;
  R.getOwnMetadata = (key: unknown, target: object, prop?: Key) => table(target, prop, false)?.get(key);
  R.hasMetadata = (key: unknown, target: object, prop?: Key): boolean => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) if (table(t, prop, false)?.has(key)) return true;
    return false;
  };
  R.getMetadata = (key: unknown, target: object, prop?: Key): unknown => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
      const m = table(t, prop, false);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  };
}

let x509: typeof X509;
let pool: SessionPool;
let dir: string;
const keys = new Map<KeyType, GeneratedKey>();

function signer(type: KeyType, algorithm?: SignatureAlgorithm): PoolSigner {
  const k = keys.get(type)!;
  return new PoolSigner(pool, { label: k.label }, type, k.spki, algorithm ? { algorithm } : {});
}

function openssl(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

function write(name: string, pem: string): string {
  const path = join(dir, name);
  writeFileSync(path, pem);
  return path;
}

/** A copy of the DER with one bit of the signature (its last byte) flipped. */
function tampered(der: ArrayBuffer): Buffer {
  const b = Buffer.from(der.slice(0)); // a copy: Buffer.from(ArrayBuffer) alone would flip the original's bit
  b[b.length - 1]! ^= 1;
  return b;
}

function pem(der: Uint8Array, label: string): string {
  return `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;
}

beforeAll(async () => {
  installReflectMetadata();
  x509 = await import('@peculiar/x509');
  dir = mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), 'webcrypto-'));
  const token = createTestToken('webcrypto');
  const store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: token.label }, pin: token.pin });
  try {
    for (const type of new Set(CASES.map((c) => c.type))) keys.set(type, store.generate({ type, label: `wc-${type}` }));
  } finally {
    store.close();
  }
  pool = await SessionPool.open({
    primary: { name: 'primary', module: SOFTHSM_MODULE, token: { label: token.label }, pin: token.pin },
    workers: 2,
    pipelineDepth: 4,
    queueLimit: 64,
    deadlineMs: 20_000,
    keyHandles: 'session-copy',
  });
}, 60_000);

afterAll(async () => {
  await pool?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('hsmCrypto: Node WebCrypto with sign() in the HSM', () => {
  it.each(CASES)('$type / $algorithm: subtle.sign in the HSM, subtle.verify (Node) accepts; the rest is plain WebCrypto', async ({ type, algorithm }) => {
    const s = signer(type, algorithm);
    const { crypto, privateKey, publicKey } = await hsmCrypto(s);
    expect(privateKey).toMatchObject({ type: 'private', extractable: false, usages: ['sign'] });
    // Everything but sign() is Node's own WebCrypto, and works on the adapter object.
    expect(Buffer.from(await crypto.subtle.exportKey('spki', publicKey)).equals(Buffer.from(s.spki))).toBe(true);
    expect(Buffer.from(await crypto.subtle.digest('SHA-256', Buffer.from('abc'))).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(crypto.getRandomValues(new Uint8Array(8))).toHaveLength(8);

    const data = Buffer.from(`WebCrypto over ${type}`);
    const alg = privateKey.algorithm as webcrypto.AlgorithmIdentifier;
    const sig = await crypto.subtle.sign(alg, privateKey, data);
    if (type.startsWith('ec-')) expect(sig.byteLength).toBe(type === 'ec-p256' ? 64 : 96); // WebCrypto's raw r||s
    expect(await crypto.subtle.verify(alg, publicKey, sig, data)).toBe(true);
    expect(await webcrypto.subtle.verify(alg, publicKey, sig, Buffer.from('other data'))).toBe(false);
  });

  it('a key that is not the HSM key is signed by Node, not sent to the token', async () => {
    const { crypto } = await hsmCrypto(signer('ec-p256'));
    const soft = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const alg = { name: 'ECDSA', hash: 'SHA-256' };
    const sig = await crypto.subtle.sign(alg, soft.privateKey, Buffer.from('soft'));
    expect(await webcrypto.subtle.verify(alg, soft.publicKey, sig, Buffer.from('soft'))).toBe(true);
  });

  it('an algorithm the key cannot do, or a hash Strongroom does not sign with, is refused', async () => {
    const { crypto, privateKey } = await hsmCrypto(signer('ec-p256'));
    for (const alg of [{ name: 'ECDSA', hash: 'SHA-1' }, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, { name: 'HMAC' }]) {
      let err: unknown;
      try {
        await crypto.subtle.sign(alg, privateKey, Buffer.from('x'));
      } catch (e) {
        err = e;
      }
      expect(err, alg.name).toBeInstanceOf(HsmError);
      expect((err as HsmError).kind).toBe('bad-request');
    }
  });

  const ec256 = () => signer('ec-p256');
  const ec384 = () => signer('ec-p384');
  const rsa = () => signer('rsa-2048');
  const MAPPINGS: [string, () => PoolSigner, webcrypto.AlgorithmIdentifier | { name: string; hash?: string | { name: string }; saltLength?: number }, SignatureAlgorithm | RegExp][] = [
    ['ECDSA with a hash name', ec256, { name: 'ECDSA', hash: 'SHA-384' }, 'ecdsa-sha384'],
    ['ECDSA with a hash object', ec384, { name: 'ECDSA', hash: { name: 'SHA-256' } }, 'ecdsa-sha256'],
    ['ECDSA without a hash: the key default', ec384, { name: 'ECDSA' }, 'ecdsa-sha384'],
    ['a bare algorithm name', rsa, 'RSASSA-PKCS1-v1_5', 'rsa-pkcs1-sha256'],
    ['PKCS#1 v1.5 with SHA-512', rsa, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' }, 'rsa-pkcs1-sha512'],
    ['RSA-PSS with salt = hash length', rsa, { name: 'RSA-PSS', hash: 'SHA-384', saltLength: 48 }, 'rsa-pss-sha384'],
    ['RSA-PSS with another salt length', rsa, { name: 'RSA-PSS', hash: 'SHA-256', saltLength: 20 }, /salt length must equal the hash length/],
    ['Ed25519', () => signer('ed25519'), { name: 'Ed25519' }, 'ed25519'],
    ['an unsupported algorithm', ec256, { name: 'HMAC' }, /unsupported signature algorithm HMAC/],
  ];
  it.each(MAPPINGS)('signatureAlgorithmOf: %s', (_what, make, alg, want) => {
    if (typeof want === 'string') {
      expect(signatureAlgorithmOf(alg as never, make())).toBe(want);
    } else {
      expect(() => signatureAlgorithmOf(alg as never, make())).toThrow(want);
      expect(() => signatureAlgorithmOf(alg as never, make())).toThrow(expect.objectContaining({ kind: 'bad-request' }));
    }
  });
});

describe('@peculiar/x509 signing in the HSM, checked by @peculiar/x509 and openssl', () => {
  it.each(CASES)('$type / $algorithm: self-signed CA certificate, and a certificate it issues', async ({ type, algorithm, openssl: opensslAlg }) => {
    const s = signer(type, algorithm);
    const { crypto, privateKey, publicKey } = await hsmCrypto(s);
    const notBefore = new Date(Date.now() - 60_000);
    const notAfter = new Date(notBefore.getTime() + 86_400_000);
    const caName = `CN=Strongroom test CA ${type} ${algorithm}, O=Strongroom`;
    const ca = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: '01',
        name: caName,
        notBefore,
        notAfter,
        keys: { privateKey, publicKey },
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto as Crypto),
        ],
      },
      crypto as Crypto,
    );
    // The certificate certifies the HSM key, and its signature verifies under it.
    expect(Buffer.from(ca.publicKey.rawData).equals(Buffer.from(s.spki))).toBe(true);
    expect(await ca.verify({}, webcrypto as Crypto)).toBe(true);
    expect(await new x509.X509Certificate(tampered(ca.rawData)).verify({}, webcrypto as Crypto)).toBe(false);

    const caPem = write(`${type}-${algorithm}.pem`, ca.toString('pem'));
    const brokenPem = write(`${type}-${algorithm}-tampered.pem`, pem(tampered(ca.rawData), 'CERTIFICATE'));
    expect(openssl(['x509', '-in', caPem, '-noout', '-text']).out).toContain(`Signature Algorithm: ${opensslAlg}`);
    // `openssl verify` takes a trust anchor's self-signature on trust unless told -check_ss_sig: without it, even
    // the tampered certificate is "OK".
    expect(openssl(['verify', '-CAfile', brokenPem, brokenPem]).out).toBe(`${brokenPem}: OK\n`);
    expect(openssl(['verify', '-check_ss_sig', '-CAfile', caPem, caPem])).toEqual({ ok: true, out: `${caPem}: OK\n` });
    const vb = openssl(['verify', '-check_ss_sig', '-CAfile', brokenPem, brokenPem]);
    expect(vb.ok).toBe(false);
    expect(vb.out).toMatch(/certificate signature failure/);

    // A certificate the HSM CA issues for a software key: openssl checks the HSM's signature on it for sure.
    const leafKeys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const leaf = await x509.X509CertificateGenerator.create(
      {
        serialNumber: '1001',
        subject: 'CN=leaf.strongroom.test',
        issuer: ca.subject,
        notBefore,
        notAfter,
        publicKey: leafKeys.publicKey,
        signingKey: privateKey,
        extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
      },
      crypto as Crypto,
    );
    expect(await leaf.verify({ publicKey: ca.publicKey }, webcrypto as Crypto)).toBe(true);
    const leafPem = write(`${type}-${algorithm}-leaf.pem`, leaf.toString('pem'));
    expect(openssl(['verify', '-CAfile', caPem, leafPem])).toEqual({ ok: true, out: `${leafPem}: OK\n` });
    const brokenLeaf = write(`${type}-${algorithm}-leaf-tampered.pem`, pem(tampered(leaf.rawData), 'CERTIFICATE'));
    const vl = openssl(['verify', '-CAfile', caPem, brokenLeaf]);
    expect(vl.ok).toBe(false);
    expect(vl.out).toMatch(/certificate signature failure/);
  });

  it.each(CASES)('$type / $algorithm: PKCS#10 certificate request', async ({ type, algorithm }) => {
    const s = signer(type, algorithm);
    const { crypto, privateKey, publicKey } = await hsmCrypto(s);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create(
      {
        name: `CN=Strongroom CSR ${type} ${algorithm}`,
        keys: { privateKey, publicKey },
        signingAlgorithm: privateKey.algorithm,
        extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
      },
      crypto as Crypto,
    );
    expect(Buffer.from(csr.publicKey.rawData).equals(Buffer.from(s.spki))).toBe(true);
    expect(await csr.verify(webcrypto as Crypto)).toBe(true);
    expect(await new x509.Pkcs10CertificateRequest(tampered(csr.rawData)).verify(webcrypto as Crypto)).toBe(false);

    // OpenSSL 3.0's `req -verify` exits 0 even when the signature is bad: judge by what it prints.
    const good = write(`${type}-${algorithm}.csr`, csr.toString('pem'));
    const v = openssl(['req', '-in', good, '-noout', '-verify']);
    expect(v).toEqual({ ok: true, out: 'Certificate request self-signature verify OK\n' });
    const broken = write(`${type}-${algorithm}-tampered.csr`, pem(tampered(csr.rawData), 'CERTIFICATE REQUEST'));
    const vb = openssl(['req', '-in', broken, '-noout', '-verify']);
    expect(vb.out).toMatch(/self-signature verify failure/);
    expect(vb.out).not.toMatch(/verify OK/);
  });
});
