// Signing with a software Signer for every algorithm, judged by openssl; the post-signing checks each made to
// fail once; and "exactly once": one sign() call per structure, none when the lint refuses.
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { KeyType, SignatureAlgorithm } from '../../hsm/key-spec.ts';
import type { SignOptions, Signer } from '../../hsm/signer.ts';
import { children, encodeTlv, readSingleTlv } from '../../ca/x509/der.ts';
import {
  algorithmIdentifierDer,
  buildName,
  buildTbsCertificate,
  buildTbsCrl,
  issueCertificate,
  issueCrl,
  LintError,
  signCertificate,
  signCrl,
  SignatureCheckError,
  verifyCertificate,
  verifyCrl,
} from '../../ca/x509/index.ts';
import { SoftwareSigner } from '../support/software-signer.ts';
import { AT_TIME, crlLint, crlSpec, intermediateLint, intermediateSpec, rootLint, rootSpec } from './fixtures.ts';
import { openssl, tempDir, writeIn } from './openssl.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const CASES: [KeyType, SignatureAlgorithm, string][] = [
  ['ec-p256', 'ecdsa-sha256', 'ecdsa-with-SHA256'],
  ['ec-p384', 'ecdsa-sha384', 'ecdsa-with-SHA384'],
  ['rsa-2048', 'rsa-pkcs1-sha256', 'sha256WithRSAEncryption'],
  ['rsa-2048', 'rsa-pkcs1-sha384', 'sha384WithRSAEncryption'],
  ['rsa-2048', 'rsa-pkcs1-sha512', 'sha512WithRSAEncryption'],
  ['rsa-2048', 'rsa-pss-sha256', 'rsassaPss'],
  ['rsa-2048', 'rsa-pss-sha384', 'rsassaPss'],
  ['rsa-2048', 'rsa-pss-sha512', 'rsassaPss'],
  ['ed25519', 'ed25519', 'ED25519'],
];

describe('root, intermediate and CRL for every signature algorithm, checked by openssl', () => {
  it.each(CASES)('%s / %s', async (keyType, alg, opensslName) => {
    const rootSigner = SoftwareSigner.generate(keyType, alg);
    const intKey = SoftwareSigner.generate('ec-p256');
    const root = await issueCertificate(await rootSpec(rootSigner), rootSigner, rootLint);
    const int = await issueCertificate(await intermediateSpec(root.der, rootSigner, intKey.spki), rootSigner, intermediateLint(root.der));
    const crl = await issueCrl(crlSpec(root.der, rootSigner, new Uint8Array(int.certificate.tbsCertificate.serialNumber)), rootSigner, crlLint(root.der));
    expect(rootSigner.calls).toHaveLength(3);
    expect(rootSigner.calls.map((c) => c.options.algorithm)).toEqual([alg, alg, alg]);

    const dir = tempDir('x509-sign');
    dirs.push(dir);
    writeIn(dir, { 'root.pem': root.pem, 'int.pem': int.pem, 'crl.pem': crl.pem });
    expect(openssl(['verify', '-attime', AT_TIME, '-x509_strict', '-CAfile', 'root.pem', 'root.pem'], dir)).toEqual({ ok: true, out: 'root.pem: OK\n' });
    expect(openssl(['verify', '-attime', AT_TIME, '-x509_strict', '-CAfile', 'root.pem', 'int.pem'], dir)).toEqual({ ok: true, out: 'int.pem: OK\n' });
    expect(openssl(['crl', '-in', 'crl.pem', '-CAfile', 'root.pem', '-verify', '-noout'], dir)).toEqual({ ok: true, out: 'verify OK\n' });
    expect(openssl(['x509', '-in', 'int.pem', '-noout', '-text'], dir).out).toContain(`Signature Algorithm: ${opensslName}`);
  });
});

/** A Signer wrapper whose sign() can be replaced, counting calls. */
class WrappedSigner implements Signer {
  calls = 0;
  constructor(
    readonly inner: SoftwareSigner,
    private readonly override: (data: Uint8Array, options: SignOptions) => Promise<Uint8Array>,
    readonly spki: Uint8Array = inner.spki,
  ) {}
  get keyType() {
    return this.inner.keyType;
  }
  get algorithm() {
    return this.inner.algorithm;
  }
  sign(data: Uint8Array, options: SignOptions = {}): Promise<Uint8Array> {
    this.calls++;
    return this.override(data, options);
  }
}

async function rootTbs(signer: Signer) {
  return buildTbsCertificate(await rootSpec(signer));
}

describe('signCertificate', () => {
  it('signs the TBS bytes once, with the algorithm the TBS names, and returns them unchanged', async () => {
    const s = SoftwareSigner.generate('ec-p384');
    const { der: tbsDer, tbs } = await rootTbs(s);
    const signed = await signCertificate(tbsDer, s, { priority: 'low' });
    expect(s.calls).toHaveLength(1);
    expect(s.calls[0]!.data).toEqual(tbsDer);
    expect(s.calls[0]!.options).toEqual({ algorithm: 'ecdsa-sha384', encoding: 'der', priority: 'low' });
    expect(signed.tbsDer).toEqual(tbsDer);
    expect(children(readSingleTlv(signed.der))[0]!.bytes).toEqual(tbsDer);
    // An object is encoded first; the encoding is what gets signed.
    const again = await signCertificate(tbs, s);
    expect(again.tbsDer).toEqual(tbsDer);
  });

  it('refuses before signing when the TBS names an algorithm the key cannot make', async () => {
    const s = SoftwareSigner.generate('ec-p256');
    const { der } = buildTbsCertificate({ ...(await rootSpec(s)), signatureAlgorithm: 'rsa-pss-sha256' });
    await expect(signCertificate(der, s)).rejects.toMatchObject({ name: 'SignatureCheckError', check: 'algorithm' });
    expect(s.calls).toHaveLength(0);
  });

  it('a signature over other data: SignatureCheckError, after exactly one sign()', async () => {
    const inner = SoftwareSigner.generate('ec-p256');
    const s = new WrappedSigner(inner, (data, o) => inner.sign(Uint8Array.from([...data, 0]), o));
    const err = await signCertificate((await rootTbs(s)).der, s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SignatureCheckError);
    expect((err as SignatureCheckError).check).toBe('signature');
    expect(s.calls).toBe(1);
  });

  it('a signer whose key is not the public key it claims: SignatureCheckError', async () => {
    const inner = SoftwareSigner.generate('rsa-2048');
    const s = new WrappedSigner(inner, (d, o) => inner.sign(d, o), SoftwareSigner.generate('rsa-2048').spki);
    await expect(signCertificate((await rootTbs(s)).der, s)).rejects.toMatchObject({ check: 'signature' });
    expect(s.calls).toBe(1);
  });

  it('an HSM error propagates untouched and is not retried', async () => {
    const inner = SoftwareSigner.generate('ec-p256');
    const boom = new Error('CKR_DEVICE_ERROR');
    const s = new WrappedSigner(inner, () => Promise.reject(boom));
    await expect(signCertificate((await rootTbs(s)).der, s)).rejects.toBe(boom);
    expect(s.calls).toBe(1);
  });
});

describe('issueCertificate / issueCrl', () => {
  it('a lint error stops everything before the HSM is asked', async () => {
    const s = SoftwareSigner.generate('ec-p256');
    const spec = await rootSpec(s);
    const err = await issueCertificate({ ...spec, subject: buildName({ CN: 'Other' }) }, s, rootLint).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LintError);
    expect((err as LintError).codes).toContain('issuer-mismatch');
    expect(s.calls).toHaveLength(0);
  });

  it('CRLs sign at high priority by default, once', async () => {
    const s = SoftwareSigner.generate('ec-p256');
    const root = await issueCertificate(await rootSpec(s), s, rootLint);
    await issueCrl(crlSpec(root.der, s, Uint8Array.from([1, 2, 3])), s, crlLint(root.der));
    expect(s.calls.map((c) => c.options.priority)).toEqual([undefined, 'high']);
  });

  it('a CRL lint error (number not increasing) signs nothing', async () => {
    const s = SoftwareSigner.generate('ec-p256');
    const root = await issueCertificate(await rootSpec(s), s, rootLint);
    await expect(issueCrl(crlSpec(root.der, s, Uint8Array.from([1]), 5n), s, crlLint(root.der, 5n))).rejects.toMatchObject({ name: 'LintError', codes: ['crl-number-not-increasing'] });
    expect(s.calls).toHaveLength(1); // the root only
  });
});

describe('verifyCertificate / verifyCrl: the relying-party checks', () => {
  async function signedRoot() {
    const s = SoftwareSigner.generate('ec-p256');
    const { der: tbsDer } = await rootTbs(s);
    return { s, tbsDer, cert: (await signCertificate(tbsDer, s)).der };
  }

  it('passes a good certificate, with and without the expected TBS', async () => {
    const { s, tbsDer, cert } = await signedRoot();
    expect(() => verifyCertificate(cert, { issuerSpki: s.spki, expectedTbs: tbsDer })).not.toThrow();
    expect(() => verifyCertificate(cert, { issuerSpki: s.spki })).not.toThrow();
  });

  it('tbs-mismatch: the signed TBS is not the linted one', async () => {
    const { s, cert } = await signedRoot();
    const other = (await rootTbs(s)).der; // another serial
    expect(() => verifyCertificate(cert, { issuerSpki: s.spki, expectedTbs: other })).toThrow(expect.objectContaining({ check: 'tbs-mismatch' }));
  });

  it('algorithm-mismatch: outer signatureAlgorithm differs from the TBS field', async () => {
    const { s, cert } = await signedRoot();
    const [tbs, , sig] = children(readSingleTlv(cert));
    const swapped = encodeTlv(0x30, Buffer.concat([tbs!.bytes, algorithmIdentifierDer('ecdsa-sha384'), sig!.bytes]));
    expect(() => verifyCertificate(swapped, { issuerSpki: s.spki })).toThrow(expect.objectContaining({ check: 'algorithm-mismatch' }));
  });

  it('signature: one flipped bit, or the wrong issuer key', async () => {
    const { s, cert } = await signedRoot();
    const flipped = Uint8Array.from(cert);
    flipped[flipped.length - 1]! ^= 1;
    expect(() => verifyCertificate(flipped, { issuerSpki: s.spki })).toThrow(expect.objectContaining({ check: 'signature' }));
    expect(() => verifyCertificate(cert, { issuerSpki: SoftwareSigner.generate('ec-p256').spki })).toThrow(expect.objectContaining({ check: 'signature' }));
  });

  it('reparse: trailing bytes or a truncated structure', async () => {
    const { s, cert } = await signedRoot();
    expect(() => verifyCertificate(Uint8Array.from([...cert, 0]), { issuerSpki: s.spki })).toThrow(expect.objectContaining({ check: 'reparse' }));
    expect(() => verifyCertificate(cert.subarray(0, cert.length - 3), { issuerSpki: s.spki })).toThrow(expect.objectContaining({ check: 'reparse' }));
  });

  it('CRLs: signed once, checked against the issuer key', async () => {
    const s = SoftwareSigner.generate('rsa-2048', 'rsa-pss-sha256');
    const root = await issueCertificate(await rootSpec(s), s, rootLint);
    const { der: tbsDer } = buildTbsCrl(crlSpec(root.der, s, Uint8Array.from([9, 9])));
    const crl = await signCrl(tbsDer, s);
    expect(() => verifyCrl(crl.der, { issuerSpki: s.spki, expectedTbs: tbsDer })).not.toThrow();
    expect(() => verifyCrl(crl.der, { issuerSpki: SoftwareSigner.generate('rsa-2048').spki })).toThrow(expect.objectContaining({ check: 'signature' }));
    expect(crl.pem.startsWith('-----BEGIN X509 CRL-----\n')).toBe(true);
  });
});
