// The X.509 core through the real HSM path: keys generated in a SoftHSM2 token, serials from its
// C_GenerateRandom, every signature made by the session pool through a PoolSigner. openssl is the judge: the chain
// verifies (-x509_strict), the CRL verifies, and the text shows the extensions the ceremonies ask for.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pkcs11KeyStore } from '../../hsm/key-store.ts';
import type { GeneratedKey } from '../../hsm/keygen.ts';
import type { KeyType } from '../../hsm/key-spec.ts';
import { SessionPool } from '../../hsm/session-pool.ts';
import { PoolSigner } from '../../hsm/signer.ts';
import { SOFTHSM_MODULE } from '../../hsm/soft-token.ts';
import {
  buildTbsCertificate,
  issueCertificate,
  issueCrl,
  keyIdentifier,
  lintCertificate,
  newSerial,
  serialFromBytes,
  type SignedCertificate,
} from '../../ca/x509/index.ts';
import { createTestToken } from '../support/token.ts';
import { AT_TIME, CRL_URL, crlLint, crlSpec, intermediateLint, intermediateSpec, ISSUER_URL, OCSP_URL, rootLint, rootSpec } from './fixtures.ts';
import { openssl, tempDir, writeIn } from './openssl.ts';

const ISSUERS: KeyType[] = ['ec-p256', 'ec-p384', 'rsa-2048'];

let store: Pkcs11KeyStore;
let pool: SessionPool;
let dir: string;
const keys = new Map<string, GeneratedKey>();

const signer = (label: string) => {
  const k = keys.get(label)!;
  return new PoolSigner(pool, { label }, k.type, k.spki);
};
/** The HSM's random generator, as the ceremonies draw serials. */
const hsmRandom = (n: number) => store.random(n);
/** OpenSSL prints key identifiers as colon-separated upper-case hex. */
const colonHex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase().match(/../g)!.join(':');

beforeAll(async () => {
  dir = tempDir('x509-hsm');
  const token = createTestToken('x509-hsm');
  store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: token.label }, pin: token.pin });
  for (const type of ISSUERS) {
    for (const role of ['root', 'int']) keys.set(`${role}-${type}`, store.generate({ type, label: `${role}-${type}` }));
  }
  pool = await SessionPool.open({
    primary: { name: 'primary', module: SOFTHSM_MODULE, token: { label: token.label }, pin: token.pin },
    workers: 1,
    pipelineDepth: 4,
    queueLimit: 100,
    deadlineMs: 5000,
    keyHandles: 'session-copy',
  });
}, 120_000);

afterAll(async () => {
  store?.close();
  await pool?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each(ISSUERS)('%s issuer in the HSM', (type) => {
  let root: SignedCertificate;
  let int: SignedCertificate;
  const file = (name: string) => `${type}-${name}`;

  it('signs a self-signed root that openssl verifies', async () => {
    const rootSigner = signer(`root-${type}`);
    const spec = { ...(await rootSpec(rootSigner, `Strongroom HSM Root ${type}`)), serial: await newSerial(hsmRandom) };
    // The lint the ceremony runs, on the same bytes issueCertificate will sign.
    expect(lintCertificate(buildTbsCertificate(spec).der, { ...rootLint, signer: rootSigner })).toEqual([]);
    root = await issueCertificate(spec, rootSigner, rootLint);
    writeIn(dir, { [file('root.pem')]: root.pem });

    expect(openssl(['verify', '-attime', AT_TIME, '-x509_strict', '-CAfile', file('root.pem'), file('root.pem')], dir)).toEqual({ ok: true, out: `${file('root.pem')}: OK\n` });
    const text = openssl(['x509', '-in', file('root.pem'), '-noout', '-text'], dir).out;
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    expect(text).toContain(colonHex(keyIdentifier(rootSigner.spki)));
    expect(text).not.toContain('Authority Key Identifier');
    expect(text).toContain(`Subject: C = DE, O = Strongroom Test, CN = Strongroom HSM Root ${type}`);
  });

  it('signs an intermediate (pathlen 0, CRL DP, AIA) that chains to the root', async () => {
    const rootSigner = signer(`root-${type}`);
    const intKey = keys.get(`int-${type}`)!;
    const spec = { ...(await intermediateSpec(root.der, rootSigner, intKey.spki)), serial: await newSerial(hsmRandom) };
    int = await issueCertificate(spec, rootSigner, intermediateLint(root.der));
    writeIn(dir, { [file('int.pem')]: int.pem });

    expect(openssl(['verify', '-attime', AT_TIME, '-x509_strict', '-CAfile', file('root.pem'), file('int.pem')], dir)).toEqual({ ok: true, out: `${file('int.pem')}: OK\n` });
    const text = openssl(['x509', '-in', file('int.pem'), '-noout', '-text'], dir).out;
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign\n/);
    expect(text).toMatch(new RegExp(`X509v3 Subject Key Identifier: \\s+${colonHex(keyIdentifier(intKey.spki))}\\n`));
    expect(text).toMatch(new RegExp(`X509v3 Authority Key Identifier: \\s+(keyid:)?${colonHex(keyIdentifier(rootSigner.spki))}\\n`));
    expect(text).toMatch(new RegExp(`X509v3 CRL Distribution Points: \\s+Full Name:\\s+URI:${CRL_URL}\\n`));
    expect(text).toContain(`OCSP - URI:${OCSP_URL}`);
    expect(text).toContain(`CA Issuers - URI:${ISSUER_URL}`);
    // Non-critical ones say so by not saying "critical".
    expect(text).not.toMatch(/(Subject Key Identifier|Authority Key Identifier|CRL Distribution Points|Certificate Policies): critical/);
  });

  it('signs a root CRL revoking the intermediate, verified by openssl', async () => {
    const rootSigner = signer(`root-${type}`);
    const serial = serialFromBytes(new Uint8Array(int.certificate.tbsCertificate.serialNumber));
    const crl = await issueCrl(crlSpec(root.der, rootSigner, serial.bytes, 4n), rootSigner, crlLint(root.der, 3n));
    writeIn(dir, { [file('crl.pem')]: crl.pem });

    expect(openssl(['crl', '-in', file('crl.pem'), '-CAfile', file('root.pem'), '-verify', '-noout'], dir)).toEqual({ ok: true, out: 'verify OK\n' });
    const text = openssl(['crl', '-in', file('crl.pem'), '-noout', '-text'], dir).out;
    expect(text).toMatch(/X509v3 CRL Number: \s+4\n/);
    expect(text).toMatch(new RegExp(`Serial Number: ${serial.hex.toUpperCase().padStart(Math.ceil(serial.hex.length / 2) * 2, '0')}\\n\\s+Revocation Date: Feb 15 12:00:00 2026 GMT`));
    expect(text).toMatch(/X509v3 CRL Reason Code: \s+Key Compromise\n/);
    expect(text).toMatch(new RegExp(`X509v3 Authority Key Identifier: \\s+(keyid:)?${colonHex(keyIdentifier(rootSigner.spki))}\\n`));
    // The chain with the CRL checked: the intermediate is revoked now.
    const chain = openssl(['verify', '-attime', AT_TIME, '-crl_check', '-CAfile', file('root.pem'), '-CRLfile', file('crl.pem'), file('int.pem')], dir);
    expect(chain.ok).toBe(false);
    expect(chain.out).toContain('certificate revoked');
  });
});
