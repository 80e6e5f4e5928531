// What a profile decides for one certificate: names (profile AND grant), CN, validity, extensions — and, end to
// end, certificates built from the shipped profiles pass the project's lint and `openssl verify -purpose`.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsageFlags, SubjectAlternativeName, type Extension } from '@peculiar/asn1-x509';
import { afterAll, describe, expect, it } from 'vitest';
import { compileRuleSet, type PolicyRuleSet } from '../../ca/policy/index.ts';
import {
  decideProfileNames,
  keyTypeAllowed,
  loadProfiles,
  OCSP_NOCHECK_OID,
  profileExtensions,
  profileSubject,
  validityDays,
  type KeyType,
  type Profile,
} from '../../ca/profiles/index.ts';
import { authorityKeyIdentifier, buildName, EKU, EXTENSION_OIDS, issuerInfo, issuerName, issueCertificate, newSerial, subjectKeyIdentifier } from '../../ca/x509/index.ts';
import { SoftwareSigner } from '../support/software-signer.ts';
import { NOT_BEFORE, rootLint, rootSpec } from '../x509/fixtures.ts';
import { openssl, tempDir, writeIn } from '../x509/openssl.ts';

const profiles = loadProfiles(join(import.meta.dirname, '../../profiles'));
const profile = (name: string): Profile => profiles.get(name)!;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function grant(name: string, input: Parameters<typeof compileRuleSet>[0]): PolicyRuleSet {
  const r = compileRuleSet(input);
  if (!r.ok) throw new Error('fixture');
  return { source: `grant ${name}`, rules: r.rules };
}
const devClient = grant('dev', { dns: ['*.dev.internal'] });

describe('decideProfileNames', () => {
  it('tls-server: the profile and the grant must both allow each name', () => {
    expect(decideProfileNames(profile('tls-server'), { dns: ['svc.dev.internal'], cn: 'SVC.dev.internal' }, [devClient])).toEqual({
      ok: true,
      names: { dns: ['svc.dev.internal'], ip: [], uri: [], email: [] },
      cn: 'svc.dev.internal',
    });
    // In the profile, not in the grant:
    expect(decideProfileNames(profile('tls-server'), { dns: ['a.svc.internal'] }, [devClient])).toMatchObject({ ok: false, code: 'forbidden_name', detail: /outside grant dev/ });
    // In the grant's DNS rules but an IP: the grant has no ip rule.
    expect(decideProfileNames(profile('tls-server'), { dns: ['svc.dev.internal'], ip: ['10.0.0.1'] }, [devClient])).toMatchObject({ ok: false, code: 'forbidden_name', detail: /grant dev allows no ip names/ });
    // A wildcard certificate: both have *.dev.internal and tls-server allows wildcards.
    expect(decideProfileNames(profile('tls-server'), { dns: ['*.dev.internal'] }, [devClient])).toMatchObject({ ok: true });
  });

  it('tls-client: no wildcard certificates even where the patterns match', () => {
    expect(decideProfileNames(profile('tls-client'), { dns: ['*.dev.internal'] }, [devClient])).toMatchObject({ ok: false, code: 'forbidden_name', detail: /wildcard certificates are not allowed/ });
  });

  it('code-signing: the CN is never kept', () => {
    const g = grant('ci', { uri: ['spiffe://strongroom.internal/build/ci/'] });
    expect(decideProfileNames(profile('code-signing'), { uri: ['spiffe://strongroom.internal/build/ci/release'], cn: 'Release Bot' }, [g])).toMatchObject({
      ok: true,
      droppedCn: { value: 'Release Bot', reason: /puts no CN/ },
    });
    expect(decideProfileNames(profile('code-signing'), { cn: 'x\u0000', uri: ['spiffe://strongroom.internal/build/ci/x'] }, [g])).toMatchObject({ ok: false, code: 'bad_name' });
  });

  it('ocsp-signer and tsa: no SAN can be asked for', () => {
    for (const name of ['ocsp-signer', 'tsa']) {
      expect(decideProfileNames(profile(name), { dns: ['ocsp.dev.internal'] }, [devClient])).toMatchObject({ ok: false, code: 'forbidden_name', detail: new RegExp(`profile ${name} allows no dns names`) });
      expect(decideProfileNames(profile(name), {}, [])).toMatchObject({ ok: true, names: { dns: [], ip: [], uri: [], email: [] } });
    }
  });

  it('issuing-ca: the CN comes from the (ceremony) request', () => {
    expect(decideProfileNames(profile('issuing-ca'), { cn: 'Strongroom Issuing CA 2026' }, [])).toMatchObject({ ok: true, cn: 'Strongroom Issuing CA 2026' });
  });

  it('bad_name is reported before forbidden_name, with the code the API maps to 400', () => {
    expect(decideProfileNames(profile('tls-server'), { dns: ['a..dev.internal'] }, [devClient])).toMatchObject({ ok: false, code: 'bad_name' });
  });
});

describe('validityDays', () => {
  const p = profile('tls-server');
  it.each<[number | undefined, number | RegExp]>([
    [undefined, 90],
    [1, 1],
    [397, 397],
    [398, /beyond the tls-server profile's maximum of 397/],
    [0, /positive whole number/],
    [1.5, /positive whole number/],
    [Number.NaN, /positive whole number/],
  ])('%s → %s', (requested, expected) => {
    const r = validityDays(p, requested);
    if (typeof expected === 'number') expect(r).toEqual({ ok: true, days: expected });
    else expect(r).toMatchObject({ ok: false, detail: expected });
  });
});

function ext(list: Extension[], oid: string): Extension | undefined {
  return list.find((e) => e.extnID === oid);
}
const parsed = <T>(e: Extension | undefined, type: new () => T): T => AsnConvert.parse(e!.extnValue, type);
const noNames = { dns: [], ip: [], uri: [], email: [] };

describe('profileExtensions: only what the profile says', () => {
  it('tls-server with RSA: digitalSignature + keyEncipherment; with EC: digitalSignature only', () => {
    const names = { ...noNames, dns: ['svc.dev.internal'] };
    const rsa = profileExtensions(profile('tls-server'), { keyType: 'rsa-2048', names, subjectEmpty: false });
    const ec = profileExtensions(profile('tls-server'), { keyType: 'ec-p256', names, subjectEmpty: false });
    expect(rsa.map((e) => e.extnID)).toEqual([EXTENSION_OIDS.basicConstraints, EXTENSION_OIDS.keyUsage, EXTENSION_OIDS.extKeyUsage, EXTENSION_OIDS.subjectAltName]);
    expect(parsed(ext(rsa, EXTENSION_OIDS.keyUsage), KeyUsage).toNumber()).toBe(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment);
    expect(parsed(ext(ec, EXTENSION_OIDS.keyUsage), KeyUsage).toNumber()).toBe(KeyUsageFlags.digitalSignature);
    expect(ext(ec, EXTENSION_OIDS.keyUsage)!.critical).toBe(true);
    expect(ext(ec, EXTENSION_OIDS.basicConstraints)!.critical).toBe(true);
    expect(parsed(ext(ec, EXTENSION_OIDS.basicConstraints), BasicConstraints).cA).toBe(false);
    expect([...parsed(ext(ec, EXTENSION_OIDS.extKeyUsage), ExtendedKeyUsage)]).toEqual([EKU.serverAuth]);
    expect(ext(ec, EXTENSION_OIDS.extKeyUsage)!.critical).toBe(false);
    const san = parsed(ext(ec, EXTENSION_OIDS.subjectAltName), SubjectAlternativeName);
    expect(san.map((g) => g.dNSName)).toEqual(['svc.dev.internal']);
    expect(ext(ec, EXTENSION_OIDS.subjectAltName)!.critical).toBe(false);
  });

  it('the SAN is critical when the subject is empty; no SAN extension without names', () => {
    const e = profileExtensions(profile('tls-server'), { keyType: 'ec-p256', names: { ...noNames, ip: ['10.0.0.1'] }, subjectEmpty: true });
    expect(ext(e, EXTENSION_OIDS.subjectAltName)!.critical).toBe(true);
    expect(ext(profileExtensions(profile('tsa'), { keyType: 'ec-p256', names: noNames, subjectEmpty: false }), EXTENSION_OIDS.subjectAltName)).toBeUndefined();
  });

  it('tsa: timeStamping, critical', () => {
    const e = ext(profileExtensions(profile('tsa'), { keyType: 'ec-p384', names: noNames, subjectEmpty: false }), EXTENSION_OIDS.extKeyUsage)!;
    expect(e.critical).toBe(true);
    expect([...parsed(e, ExtendedKeyUsage)]).toEqual([EKU.timeStamping]);
  });

  it('ocsp-signer: OCSPSigning and id-pkix-ocsp-nocheck (NULL, not critical)', () => {
    const list = profileExtensions(profile('ocsp-signer'), { keyType: 'ec-p256', names: noNames, subjectEmpty: false });
    expect([...parsed(ext(list, EXTENSION_OIDS.extKeyUsage), ExtendedKeyUsage)]).toEqual([EKU.ocspSigning]);
    const nocheck = ext(list, OCSP_NOCHECK_OID)!;
    expect(nocheck.critical).toBe(false);
    expect(Buffer.from(nocheck.extnValue.buffer).toString('hex')).toBe('0500');
    // No other profile carries it.
    for (const [name, p] of profiles) if (name !== 'ocsp-signer') expect(ext(profileExtensions(p, { keyType: p.keyTypes[0]!, names: noNames, subjectEmpty: false }), OCSP_NOCHECK_OID)).toBeUndefined();
  });

  it('issuing-ca: CA:TRUE pathLen 0, keyCertSign + cRLSign, no EKU', () => {
    const list = profileExtensions(profile('issuing-ca'), { keyType: 'ec-p384', names: noNames, subjectEmpty: false });
    const bc = parsed(ext(list, EXTENSION_OIDS.basicConstraints), BasicConstraints);
    expect([bc.cA, bc.pathLenConstraint]).toEqual([true, 0]);
    expect(parsed(ext(list, EXTENSION_OIDS.keyUsage), KeyUsage).toNumber()).toBe(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign);
    expect(ext(list, EXTENSION_OIDS.extKeyUsage)).toBeUndefined();
  });

  it('a key type the profile does not allow is a programming error', () => {
    expect(keyTypeAllowed(profile('code-signing'), 'rsa-2048')).toBe(false);
    expect(() => profileExtensions(profile('code-signing'), { keyType: 'rsa-2048', names: noNames, subjectEmpty: false })).toThrow(/not allowed/);
  });
});

describe('certificates from the shipped profiles pass the lint and openssl', () => {
  const DAY = 86_400_000;

  it.each<[string, KeyType, Parameters<typeof decideProfileNames>[1], string]>([
    ['tls-server', 'ec-p256', { dns: ['svc.dev.internal', '*.dev.internal'], ip: ['127.0.0.1'], cn: 'svc.dev.internal' }, 'sslserver'],
    ['tls-server', 'rsa-2048', { dns: ['svc.dev.internal'] }, 'sslserver'],
    ['tls-client', 'ec-p384', { dns: ['worker.dev.internal'], uri: ['spiffe://strongroom.internal/ns/dev/worker'], cn: 'worker.dev.internal' }, 'sslclient'],
    ['code-signing', 'ec-p256', { email: ['release@strongroom.internal'] }, 'any'],
    ['ocsp-signer', 'ec-p256', { cn: 'Strongroom OCSP' }, 'ocsphelper'],
    ['tsa', 'ec-p256', {}, 'timestampsign'],
  ])('%s (%s)', async (name, keyType, request, purpose) => {
    const p = profile(name);
    const rootSigner = SoftwareSigner.generate('ec-p384');
    const root = await issueCertificate(await rootSpec(rootSigner), rootSigner, rootLint);

    // The issuing CA from the issuing-ca profile, its CN as a ceremony would give it.
    const ca = profile('issuing-ca');
    const caSigner = SoftwareSigner.generate('ec-p256');
    const caNames = decideProfileNames(ca, { cn: 'Strongroom Test Issuing CA' }, []);
    if (!caNames.ok) throw new Error(caNames.detail);
    const rootInfo = issuerInfo(root.der);
    const int = await issueCertificate(
      {
        serial: await newSerial((n) => crypto.getRandomValues(new Uint8Array(n))),
        issuer: issuerName(rootInfo),
        subject: buildName(profileSubject(ca, caNames.cn), { requireNonEmpty: true }),
        notBefore: NOT_BEFORE,
        notAfter: new Date(NOT_BEFORE.getTime() + ca.validity.defaultDays * DAY),
        spki: caSigner.spki,
        signatureAlgorithm: rootSigner.algorithm,
        extensions: [...profileExtensions(ca, { keyType: 'ec-p256', names: caNames.names, subjectEmpty: false }), subjectKeyIdentifier(caSigner.spki), authorityKeyIdentifier(rootInfo.keyIdentifier)],
      },
      rootSigner,
      { ca: true, maxValidityDays: ca.validity.maxDays, issuerCertificate: root.der },
    );

    // The leaf.
    const leafKey = SoftwareSigner.generate(keyType);
    const grants = name === 'tls-server' || name === 'tls-client' ? [grant('dev', { dns: ['*.dev.internal'], ip: ['127.0.0.1'], uri: ['spiffe://strongroom.internal/ns/dev/'] })] : [];
    const decision = decideProfileNames(p, request, grants);
    if (!decision.ok) throw new Error(decision.detail);
    const subject = profileSubject(p, decision.cn);
    const days = validityDays(p);
    if (!days.ok) throw new Error(days.detail);
    const intInfo = issuerInfo(int.der);
    const leaf = await issueCertificate(
      {
        serial: await newSerial((n) => crypto.getRandomValues(new Uint8Array(n))),
        issuer: issuerName(intInfo),
        subject: buildName(subject),
        notBefore: NOT_BEFORE,
        notAfter: new Date(NOT_BEFORE.getTime() + days.days * DAY - 1000),
        spki: leafKey.spki,
        signatureAlgorithm: caSigner.algorithm,
        extensions: [
          ...profileExtensions(p, { keyType, names: decision.names, subjectEmpty: Object.keys(subject).length === 0 }),
          subjectKeyIdentifier(leafKey.spki),
          authorityKeyIdentifier(intInfo.keyIdentifier),
        ],
      },
      caSigner,
      { ca: false, maxValidityDays: p.validity.maxDays, issuerCertificate: int.der },
    );
    expect(leaf.warnings).toEqual([]);

    const dir = tempDir(`profile-${name}`);
    dirs.push(dir);
    writeIn(dir, { 'root.pem': root.pem, 'int.pem': int.pem, 'leaf.pem': leaf.pem });
    const attime = String(Math.floor(NOT_BEFORE.getTime() / 1000) + 86_400);
    // OpenSSL 3.0 has no codesign purpose; "any" still checks the chain strictly.
    const verify = openssl(['verify', '-x509_strict', '-attime', attime, '-purpose', purpose, '-CAfile', 'root.pem', '-untrusted', 'int.pem', 'leaf.pem'], dir);
    expect(verify).toEqual({ ok: true, out: 'leaf.pem: OK\n' });
    // A leaf used for another purpose is refused by openssl: the EKU is what the profile said.
    if (purpose !== 'any') {
      const other = purpose === 'sslserver' ? 'sslclient' : 'sslserver';
      expect(openssl(['verify', '-x509_strict', '-attime', attime, '-purpose', other, '-CAfile', 'root.pem', '-untrusted', 'int.pem', 'leaf.pem'], dir).ok).toBe(false);
    }
    const text = openssl(['x509', '-in', 'leaf.pem', '-noout', '-text'], dir).out;
    if (name === 'ocsp-signer') expect(text).toContain('OCSP No Check');
    if (name === 'tsa') expect(text).toMatch(/X509v3 Extended Key Usage: critical\s+Time Stamping/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(openssl(['x509', '-in', 'int.pem', '-noout', '-text'], dir).out).toMatch(/CA:TRUE, pathlen:0/);
  });
});
