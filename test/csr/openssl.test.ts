// Good CSRs as openssl writes them: parsed with the right subject, names, key and hash.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCsr } from '../../ca/csr/index.ts';
import { expectRefusal, openssl, readIn, tempDir } from './support.ts';

let dir: string;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** `openssl req -new` into `<name>.pem`, with the public key in `<name>.pub.der` for comparison. */
function req(name: string, args: string[]): { pem: string; pubDer: Uint8Array } {
  openssl(dir, ['req', '-new', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, ...args]);
  openssl(dir, ['req', '-in', `${name}.pem`, '-pubkey', '-noout', '-out', `${name}.pub.pem`]);
  openssl(dir, ['pkey', '-pubin', '-in', `${name}.pub.pem`, '-outform', 'DER', '-out', `${name}.pub.der`]);
  return { pem: readIn(dir, `${name}.pem`).toString('utf8'), pubDer: Uint8Array.from(readIn(dir, `${name}.pub.der`)) };
}

beforeAll(() => {
  dir = tempDir('csr-openssl');
});

describe('CSRs made by openssl req', () => {
  it('P-256 with DNS and IP subjectAltNames', () => {
    const { pem, pubDer } = req('p256', [
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
      '-subj', '/CN=svc.example', '-addext', 'subjectAltName=DNS:svc.example,IP:10.1.2.3',
    ]);
    const csr = parseCsr(pem);
    expect(csr.subject).toEqual([['CN', 'svc.example']]);
    expect(csr.cn).toBe('svc.example');
    expect(csr.requested).toEqual({ dns: ['svc.example'], ip: ['10.1.2.3'], uri: [], email: [], other: [] });
    expect(csr.requestedExtensions).toEqual([{ oid: '2.5.29.17', name: 'subjectAltName', critical: false }]);
    expect(csr.signatureAlgorithm).toBe('ecdsa-sha256');
    expect(csr.publicKey).toEqual({ spki: pubDer, keyType: 'ec-p256', family: 'ec', bits: 256, spkiSha256: sha256(pubDer) });
    expect(csr.otherAttributes).toEqual([]);
    // DER in, same answer; and the DER is what openssl wrote.
    openssl(dir, ['req', '-in', 'p256.pem', '-outform', 'DER', '-out', 'p256.der']);
    const der = Uint8Array.from(readIn(dir, 'p256.der'));
    expect(csr.der).toEqual(der);
    expect(parseCsr(der)).toEqual(csr);
    // PEM handed over as bytes, with CRLF line ends, and the legacy label.
    expect(parseCsr(Buffer.from(pem))).toEqual(csr);
    expect(parseCsr(pem.replace(/\n/g, '\r\n'))).toEqual(csr);
    expect(parseCsr(pem.replace(/CERTIFICATE REQUEST/g, 'NEW CERTIFICATE REQUEST'))).toEqual(csr);
  });

  it('P-384 with SHA-384, a richer subject and every SAN kind', () => {
    const { pem, pubDer } = req('p384', [
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384',
      '-subj', '/C=DE/O=Example GmbH/OU=Ops/CN=svc.example',
      '-addext', 'subjectAltName=DNS:svc.example,DNS:*.svc.example,IP:2001:db8:0:0:0:0:0:1,IP:::ffff:10.0.0.1,URI:https://svc.example/x,email:ops@svc.example',
    ]);
    const csr = parseCsr(pem);
    expect(csr.subject).toEqual([['C', 'DE'], ['O', 'Example GmbH'], ['OU', 'Ops'], ['CN', 'svc.example']]);
    expect(csr.requested).toEqual({
      dns: ['svc.example', '*.svc.example'],
      ip: ['2001:db8::1', '::ffff:a00:1'],
      uri: ['https://svc.example/x'],
      email: ['ops@svc.example'],
      other: [],
    });
    expect(csr.signatureAlgorithm).toBe('ecdsa-sha384');
    expect(csr.publicKey).toMatchObject({ spki: pubDer, keyType: 'ec-p384', family: 'ec', bits: 384, spkiSha256: sha256(pubDer) });
  });

  it('RSA-2048 (PKCS#1 v1.5) and RSA-3072 with RSASSA-PSS', () => {
    const rsa = req('rsa2048', ['-newkey', 'rsa:2048', '-subj', '/CN=svc.example', '-addext', 'subjectAltName=DNS:svc.example']);
    const a = parseCsr(rsa.pem);
    expect(a.publicKey).toMatchObject({ spki: rsa.pubDer, keyType: 'rsa-2048', family: 'rsa', bits: 2048 });
    expect(a.signatureAlgorithm).toBe('rsa-pkcs1-sha256');

    const pss = req('rsa3072', [
      '-newkey', 'rsa:3072', '-sha384', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:-1',
      '-subj', '/CN=svc.example',
    ]);
    const b = parseCsr(pss.pem);
    expect(b.publicKey).toMatchObject({ keyType: 'rsa-3072', bits: 3072 });
    expect(b.signatureAlgorithm).toBe('rsa-pss-sha384');
    expect(b.requested.dns).toEqual([]);
    expect(b.requestedExtensions).toEqual([]);
  });

  it('a CSR asking for CA powers parses; the extensions are listed for the audit, nothing more', () => {
    const { pem } = req('ca', [
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-subj', '/CN=svc.example',
      '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
      '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
      '-addext', 'nameConstraints=critical,permitted;DNS:.svc.example',
      '-addext', 'subjectAltName=DNS:svc.example',
      '-addext', '1.3.6.1.4.1.99999.1=ASN1:UTF8String:not critical, not known',
    ]);
    const csr = parseCsr(pem);
    expect(csr.requestedExtensions).toEqual([
      { oid: '2.5.29.19', name: 'basicConstraints', critical: true },
      { oid: '2.5.29.15', name: 'keyUsage', critical: true },
      { oid: '2.5.29.37', name: 'extKeyUsage', critical: false },
      { oid: '2.5.29.30', name: 'nameConstraints', critical: true },
      { oid: '2.5.29.17', name: 'subjectAltName', critical: false },
      { oid: '1.3.6.1.4.1.99999.1', critical: false },
    ]);
    expect(csr.requested.dns).toEqual(['svc.example']);
  });

  it('an unknown critical extension from openssl is refused', () => {
    const { pem } = req('crit', [
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-subj', '/CN=svc.example',
      '-addext', '1.3.6.1.4.1.99999.2=critical,ASN1:NULL',
    ]);
    expect(() => parseCsr(pem)).toThrow(expect.objectContaining({ code: 'bad_csr' }));
  });

  it('a challengePassword attribute is recorded and ignored; an empty subject is fine', () => {
    openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'cp.key']);
    const conf = '[req]\nprompt=no\ndistinguished_name=dn\nattributes=attrs\n[dn]\nCN=svc.example\n[attrs]\nchallengePassword=s3cret-pass\n';
    writeFileSync(join(dir, 'cp.cnf'), conf);
    openssl(dir, ['req', '-new', '-key', 'cp.key', '-config', 'cp.cnf', '-out', 'cp.pem']);
    const csr = parseCsr(readIn(dir, 'cp.pem').toString());
    expect(csr.otherAttributes).toEqual(['1.2.840.113549.1.9.7']);
    expect(csr.requestedExtensions).toEqual([]);

    openssl(dir, ['req', '-new', '-key', 'cp.key', '-subj', '/', '-addext', 'subjectAltName=DNS:svc.example', '-out', 'empty.pem']);
    const empty = parseCsr(readIn(dir, 'empty.pem').toString());
    expect(empty.subject).toEqual([]);
    expect(empty.cn).toBeUndefined();
    expect(empty.requested.dns).toEqual(['svc.example']);
  });

  it.each([
    ['RSA-1024', ['-newkey', 'rsa:1024'], 'weak_key', /1024 bits/],
    ['secp256k1', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], 'weak_key', /secp256k1/],
    ['P-521', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'], 'weak_key', /P-521/],
    ['Ed25519', ['-newkey', 'ed25519'], 'weak_key', /Ed25519/],
    ['an RSA key signing with SHA-1', ['-newkey', 'rsa:2048', '-sha1'], 'bad_csr', /SHA-1/],
    ['an RSA key signing with MD5', ['-newkey', 'rsa:2048', '-md5'], 'bad_csr', /MD5/],
    ['DSA', ['-newkey', 'dsa:dsa.params'], 'bad_csr', /DSA/],
  ])('refuses an openssl CSR with %s', (_what, args, code, why) => {
    openssl(dir, ['dsaparam', '-out', 'dsa.params', '1024']);
    const { pem } = req('refused', [...args, '-subj', '/CN=svc.example']);
    expect(expectRefusal(pem, code as 'weak_key' | 'bad_csr').error.message).toMatch(why);
  });
});

