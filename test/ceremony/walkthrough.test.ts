// The docs/ceremonies walkthrough, run as its README says (CLI in process, the docs' YAML files with this run's
// token label), then judged by openssl: the chain verifies, every extension is what the files ask for, the CRLs
// verify and revoke; the transcript verifies pinned to the root and pinpoints tampering; a dry run signs the same
// TBS as the real ceremony except for the key-dependent fields.
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Certificate, id_ce_authorityKeyIdentifier, id_ce_subjectKeyIdentifier, type SubjectPublicKeyInfo, type TBSCertificate } from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../ca/encoding/canonical-json.ts';
import { verifyTranscript, type TranscriptEntry } from '../../ca/ceremony/transcript.ts';
import { fromPem, issueCertificate, keyIdentifier, newSerial } from '../../ca/x509/index.ts';
import { SoftwareSigner } from '../support/software-signer.ts';
import { intermediateLint, intermediateSpec, rootLint, rootSpec } from '../x509/fixtures.ts';
import { openssl } from '../x509/openssl.ts';
import { AT_TIME, cli, docYaml, dryRunOut, keyCount, sha256File, write, workspace, type CliResult } from './ceremony-support.ts';

const W = workspace('walkthrough');
const ROOT = `root-${randomBytes(3).toString('hex')}`;
const ONLINE = `online-${randomBytes(3).toString('hex')}`;
const DR = `dr-${randomBytes(3).toString('hex')}`;
const rootPinFile = join(W, 'root.pin');
const onlinePinFile = join(W, 'online.pin');
const rootSoPinFile = join(W, 'root.so-pin');
const drPinFile = join(W, 'dr.pin');
const env = { STRONGROOM_HSM_SO_PIN: randomBytes(8).toString('hex'), STRONGROOM_HSM_PIN: undefined, STRONGROOM_HSM_PIN_SOURCE: undefined, STRONGROOM_HSM_TOKEN: undefined };
const f = (name: string) => join(W, name);
const shares = (a: string, b: string, dir = 'shares') => ['--share-file', `${a}=${f(`${dir}/${a}.share`)}`, '--share-file', `${b}=${f(`${dir}/${b}.share`)}`];
/** Dry-run folders (in the OS temp directory), removed at the end. */
const dryRuns: string[] = [];
/** Everything the CLI printed, to check no share ever shows up. */
const printed: string[] = [];
let rootPin: string;

async function run(argv: string[]): Promise<CliResult> {
  const r = await cli(argv, env);
  printed.push(r.out, r.err);
  return r;
}

async function ceremony(file: string, ...extra: string[]): Promise<CliResult> {
  const r = await run(['ceremony', 'run', f(file), ...extra]);
  if (r.code !== 0) throw new Error(`ceremony ${file} exited ${r.code}:\n${r.out}\n${r.err}`);
  return r;
}

const text = (file: string) => openssl(['x509', '-in', f(file), '-noout', '-text']).out;
const tbsOf = (path: string): TBSCertificate => AsnConvert.parse(fromPem(readFileSync(path, 'utf8'), 'CERTIFICATE'), Certificate).tbsCertificate;

/** The TBS with the key-dependent fields masked: serial, subject public key, SKI, AKI. */
function masked(tbs: TBSCertificate, spki: SubjectPublicKeyInfo): Buffer {
  tbs.serialNumber = Uint8Array.of(1).buffer;
  tbs.subjectPublicKeyInfo = spki;
  for (const e of tbs.extensions ?? []) if (e.extnID === id_ce_subjectKeyIdentifier || e.extnID === id_ce_authorityKeyIdentifier) e.extnValue = new OctetString(0);
  return Buffer.from(AsnConvert.serialize(tbs));
}

const entries = async (path = f('transcript.jsonl')): Promise<TranscriptEntry[]> => {
  const r = await verifyTranscript(path);
  expect(r.problems).toEqual([]);
  return r.entries;
};

beforeAll(() => {
  for (const name of ['root-key.yaml', 'root-cert.yaml', 'intermediate-cert.yaml', 'root-crl.yaml', 'cross-cert.yaml', 'key-backup.yaml', 'key-restore.yaml']) write(W, name, docYaml(name, ROOT, DR));
  rootPin = randomBytes(12).toString('hex');
  write(W, 'root.pin', rootPin, 0o600);
  write(W, 'root.so-pin', randomBytes(12).toString('hex'), 0o600);
  write(W, 'dr.pin', randomBytes(12).toString('hex'), 0o600);
  write(W, 'online.pin', randomBytes(12).toString('hex'), 0o600);
});

afterAll(() => {
  for (const d of dryRuns) rmSync(dirname(d), { recursive: true, force: true });
  // The shares never left their files: not in any output, transcript line or message.
  const data = ['shares', 'kek-shares', 'dr-shares'].flatMap((d) => readdirSync(f(d)).map((n) => readFileSync(f(`${d}/${n}`), 'utf8').trim().split(':')[6]!));
  const outputs = ['transcript.jsonl', 'root.pub.pem', 'root.pem', 'issuing.pem', 'root-ca.wrapped.json', 'root-ca.restore-proof.json'];
  const everything = [printed.join('\n'), ...outputs.map((n) => readFileSync(f(n), 'utf8'))].join('\n');
  for (const d of data) expect(everything).not.toContain(d.slice(0, 24));
  expect(everything).not.toContain(rootPin);
});

describe('the docs/ceremonies walkthrough on SoftHSM2', () => {
  it('1. root token, PIN split 2-of-3 into 0600 share files', async () => {
    expect((await run(['hsm', 'init-token', '--token', ROOT, '--pin-source', `file:${rootPinFile}`, '--so-pin-source', `file:${rootSoPinFile}`])).code).toBe(0);
    mkdirSync(f('shares'));
    const r = await run(['ceremony', 'split-pin', '--threshold', '2', '--custodians', 'alice,bob,carol', '--label', ROOT, '--pin-source', `file:${rootPinFile}`, '--out-dir', f('shares')]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/rehearsals, tests and dev tokens only/);
    for (const c of ['alice', 'bob', 'carol']) {
      expect(statSync(f(`shares/${c}.share`)).mode & 0o777).toBe(0o600);
      expect(readFileSync(f(`shares/${c}.share`), 'utf8')).toMatch(new RegExp(`^strongroom-share:v1:${ROOT}:[0-9a-f]{16}:\\d/3:2:`));
    }
    // Never overwritten.
    const again = await run(['ceremony', 'split-pin', '--threshold', '2', '--custodians', 'alice,bob,carol', '--pin-source', `file:${rootPinFile}`, '--out-dir', f('shares')]);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/already exist/);
  });

  it('2. root-key: generated in the token, attributes read back into the transcript, signed by the new key', async () => {
    const r = await ceremony('root-key.yaml', ...shares('alice', 'bob'), '--yes');
    expect(r.out).toMatch(/dual control: 2 of 3 custodians gave their shares/);
    // Backup-capable (docs: backup-capable: true): extractable only under a trusted key, so never-extractable is false.
    expect(r.out).toMatch(/read back: CKA_LOCAL true, CKA_ALWAYS_SENSITIVE true, CKA_NEVER_EXTRACTABLE false, CKA_SENSITIVE true, CKA_EXTRACTABLE true/);
    const pem = readFileSync(f('root.pub.pem'), 'utf8');
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const [entry] = await entries();
    expect(entry).toMatchObject({ seq: 1, type: 'root-key', operators: ['Olivia Operator', 'Walter Witness'], custodians: { threshold: 2, present: 2 } });
    expect(entry!.configSha256).toBe(sha256File(f('root-key.yaml')));
    expect(entry!.token).toMatchObject({ label: ROOT, manufacturer: 'SoftHSM project' });
    expect(entry!.keys).toEqual([expect.objectContaining({ label: 'root-ca', type: 'ec-p384', attributes: { local: true, neverExtractable: false, alwaysSensitive: true, sensitive: true, extractable: true } })]);
    expect(entry!.details).toMatchObject({ backupCapable: true, wrapWithTrusted: true });
    expect(entry!.keys[0]!.spkiSha256).toBe(entry!.signer.spkiSha256);
    expect(entry!.outputs).toEqual([{ path: 'root.pub.pem', sha256: sha256File(f('root.pub.pem')) }]);
    expect(keyCount(ROOT, rootPin)).toBe(1);
  });

  it('3. root-cert: the dry run writes nothing real and signs the same TBS but for serial, key and SKI', async () => {
    const transcriptBefore = sha256File(f('transcript.jsonl'));
    const dry = await ceremony('root-cert.yaml', '--dry-run');
    expect(dry.out).toMatch(/\[dry run\] DRY RUN: throwaway SoftHSM2 token/);
    expect(dry.out).toMatch(/\[dry run\] PLAN — root-cert/);
    const dryDir = dryRunOut(dry);
    dryRuns.push(dryDir);
    expect(existsSync(f('root.pem'))).toBe(false);
    expect(sha256File(f('transcript.jsonl'))).toBe(transcriptBefore);
    expect(keyCount(ROOT, rootPin)).toBe(1);
    const [dryEntry] = await entries(join(dryDir, 'transcript.jsonl'));
    expect(dryEntry).toMatchObject({ type: 'root-cert', details: expect.objectContaining({ dryRun: true }) });

    const real = await ceremony('root-cert.yaml', ...shares('bob', 'carol'), '--yes');
    expect(real.out).toMatch(/serial source: {7}the HSM's C_GenerateRandom/);
    const a = tbsOf(join(dryDir, 'root.pem'));
    const b = tbsOf(f('root.pem'));
    expect(Buffer.from(AsnConvert.serialize(a)).equals(Buffer.from(AsnConvert.serialize(b)))).toBe(false);
    expect(Buffer.from(a.serialNumber).equals(Buffer.from(b.serialNumber))).toBe(false);
    expect(masked(a, b.subjectPublicKeyInfo).equals(masked(b, b.subjectPublicKeyInfo))).toBe(true);
  });

  it('3b. root.pem: self-signed, CA:TRUE and keyCertSign/cRLSign critical, SKI method 1, serial from the HSM', () => {
    expect(openssl(['verify', '-attime', AT_TIME, '-x509_strict', '-CAfile', f('root.pem'), f('root.pem')]).ok).toBe(true);
    const t = text('root.pem');
    expect(t).toMatch(/Subject: C = DE, O = Strongroom Example, CN = Strongroom Example Root CA R1\n/);
    expect(t).toMatch(/Issuer: C = DE, O = Strongroom Example, CN = Strongroom Example Root CA R1\n/);
    expect(t).toMatch(/Not Before: Nov {2}1 00:00:00 2026 GMT\n\s+Not After : Oct 31 23:59:59 2046 GMT/);
    expect(t).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/);
    expect(t).toMatch(/X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
    const spki = AsnConvert.serialize(tbsOf(f('root.pem')).subjectPublicKeyInfo);
    const ski = Buffer.from(keyIdentifier(new Uint8Array(spki))).toString('hex').toUpperCase().match(/../g)!.join(':');
    expect(t).toMatch(new RegExp(`X509v3 Subject Key Identifier: \\n\\s+${ski}\\n`));
    expect(t).toMatch(/Signature Algorithm: ecdsa-with-SHA384/);
    expect(t).toMatch(/Public-Key: \(384 bit\)/);
    // Exactly these three extensions.
    expect(t.match(/X509v3 [A-Za-z ]+:/g)).toEqual(['X509v3 extensions:', 'X509v3 Basic Constraints:', 'X509v3 Key Usage:', 'X509v3 Subject Key Identifier:']);
  });

  it('4. the online issuing key is generated on its own token and only its public key exported', async () => {
    expect((await run(['hsm', 'init-token', '--token', ONLINE, '--pin-source', `file:${onlinePinFile}`])).code).toBe(0);
    const g = await run(['hsm', 'keygen', '--token', ONLINE, '--pin-source', `file:${onlinePinFile}`, '--type', 'ec-p256', '--label', 'issuing-ca']);
    expect(g.code).toBe(0);
    // As the README's sed does.
    const pem = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/.exec(g.out)![0];
    write(W, 'issuing-ca.pub.pem', `${pem}\n`);
  });

  it('5. intermediate-cert: dry run then the real one; openssl verifies the chain; every extension as configured', async () => {
    const dry = await ceremony('intermediate-cert.yaml', '--dry-run');
    const dryDir = dryRunOut(dry);
    dryRuns.push(dryDir);
    expect(existsSync(f('issuing.pem'))).toBe(false);
    // The dry run's issuer is a throwaway certificate with the root's subject, validity and extensions.
    expect(openssl(['verify', '-attime', AT_TIME, '-CAfile', join(dryDir, '..', 'in', 'issuer-certificate.pem'), join(dryDir, 'issuing.pem')]).ok).toBe(true);

    await ceremony('intermediate-cert.yaml', ...shares('alice', 'carol'), '--yes');
    const a = tbsOf(join(dryDir, 'issuing.pem'));
    const b = tbsOf(f('issuing.pem'));
    expect(Buffer.from(a.subjectPublicKeyInfo.subjectPublicKey).equals(Buffer.from(b.subjectPublicKeyInfo.subjectPublicKey))).toBe(true);
    expect(masked(a, b.subjectPublicKeyInfo).equals(masked(b, b.subjectPublicKeyInfo))).toBe(true);

    expect(openssl(['verify', '-attime', AT_TIME, '-x509_strict', '-CAfile', f('root.pem'), f('issuing.pem')])).toEqual({ ok: true, out: `${f('issuing.pem')}: OK\n` });
    const t = text('issuing.pem');
    expect(t).toMatch(/Subject: C = DE, O = Strongroom Example, CN = Strongroom Example Issuing CA 1\n/);
    expect(t).toMatch(/Issuer: C = DE, O = Strongroom Example, CN = Strongroom Example Root CA R1\n/);
    expect(t).toMatch(/Not Before: Nov {2}1 00:00:00 2026 GMT\n\s+Not After : Oct 31 23:59:59 2031 GMT/);
    expect(t).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0\n/);
    expect(t).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Certificate Sign, CRL Sign\n/);
    const rootSki = /X509v3 Subject Key Identifier: \n\s+([0-9A-F:]+)\n/.exec(text('root.pem'))![1]!;
    expect(t).toMatch(new RegExp(`X509v3 Authority Key Identifier: \\n\\s+${rootSki}\\n`));
    expect(t).toMatch(/X509v3 Subject Key Identifier: \n\s+[0-9A-F:]{59}\n/);
    expect(t).toMatch(/X509v3 CRL Distribution Points: \n\s+Full Name:\n\s+URI:http:\/\/pki\.example\.test\/root\.crl\n/);
    expect(t).toMatch(/Authority Information Access: \n\s+OCSP - URI:http:\/\/ocsp\.example\.test\/\n\s+CA Issuers - URI:http:\/\/pki\.example\.test\/root\.cer\n/);
    expect(t).toMatch(/X509v3 Name Constraints: critical\n\s+Permitted:\n\s+DNS:example\.test\n/);
    expect(t).toMatch(/Signature Algorithm: ecdsa-with-SHA384/);
    expect(t).toMatch(/Public-Key: \(256 bit\)/);
    expect(t.match(/^ {12}[A-Za-z][A-Za-z0-9 ]*: ?(critical)?$/gm)!.map((l) => l.trim())).toEqual([
      'X509v3 Basic Constraints: critical',
      'X509v3 Key Usage: critical',
      'X509v3 Subject Key Identifier:',
      'X509v3 Authority Key Identifier:',
      'X509v3 CRL Distribution Points:',
      'Authority Information Access:',
      'X509v3 Name Constraints: critical',
    ]);
    const [, , entry] = await entries();
    expect(entry).toMatchObject({ type: 'intermediate-cert', details: expect.objectContaining({ subjectSpkiSha256: expect.stringMatching(/^[0-9a-f]{64}$/) }) });
    expect(entry!.signer.spkiSha256).toBe(entry!.keys[0]!.spkiSha256);
  });

  it('6. root-crl: number 1 verifies; number 2 revokes the issuing CA and openssl sees it revoked', async () => {
    await ceremony('root-crl.yaml', ...shares('alice', 'bob'), '--yes');
    expect(openssl(['crl', '-in', f('root-1.crl'), '-CAfile', f('root.pem'), '-verify', '-noout']).out).toMatch(/verify OK/);
    const t1 = openssl(['crl', '-in', f('root-1.crl'), '-noout', '-text']).out;
    expect(t1).toMatch(/X509v3 CRL Number: \n\s+1\n/);
    expect(t1).toMatch(/Last Update: Nov 15 00:00:00 2026 GMT\n\s+Next Update: May 15 00:00:00 2027 GMT/);
    expect(t1).toMatch(/No Revoked Certificates/);

    const serial = /serial=([0-9A-F]+)/.exec(openssl(['x509', '-in', f('issuing.pem'), '-noout', '-serial']).out)![1]!;
    write(
      W,
      'root-crl-2.yaml',
      docYaml('root-crl.yaml', ROOT)
        .replace('number: 1', 'number: 2')
        .replace('crl: root-1.crl', 'crl: root-2.crl')
        .replace('  revoked: []', `  revoked:\n    - serial: "${serial}"\n      revocation-date: 2026-11-10T00:00:00Z\n      reason: keyCompromise`),
    );
    await ceremony('root-crl-2.yaml', ...shares('bob', 'carol'), '--yes');
    expect(openssl(['crl', '-in', f('root-2.crl'), '-CAfile', f('root.pem'), '-verify', '-noout']).out).toMatch(/verify OK/);
    const t2 = openssl(['crl', '-in', f('root-2.crl'), '-noout', '-text']).out;
    expect(t2).toMatch(/X509v3 CRL Number: \n\s+2\n/);
    expect(t2).toMatch(new RegExp(`Serial Number: ${serial}\\n\\s+Revocation Date: Nov 10 00:00:00 2026 GMT\\n\\s+CRL entry extensions:\\n\\s+X509v3 CRL Reason Code: \\n\\s+Key Compromise`));
    const revoked = openssl(['verify', '-attime', AT_TIME, '-crl_check', '-CRLfile', f('root-2.crl'), '-CAfile', f('root.pem'), f('issuing.pem')]);
    expect(revoked.ok).toBe(false);
    expect(revoked.out).toMatch(/certificate revoked/);
    const all = await entries();
    expect(all.slice(3).map((e) => e.details?.crlNumber)).toEqual(['1', '2']);
  });

  it('6b. cross-cert: another root certified under this root; its subordinates chain to this root', async () => {
    const other = SoftwareSigner.generate('ec-p256');
    const otherRoot = await issueCertificate({ ...(await rootSpec(other, 'Other Root')), serial: await newSerial((n) => randomBytes(n)) }, other, rootLint);
    const sub = SoftwareSigner.generate('ec-p256');
    const otherSub = await issueCertificate(await intermediateSpec(otherRoot.der, other, sub.spki, 'Other Issuing CA'), other, intermediateLint(otherRoot.der));
    write(W, 'other-root.pem', otherRoot.pem);
    write(W, 'other-sub.pem', otherSub.pem);
    await ceremony('cross-cert.yaml', ...shares('alice', 'bob'), '--yes');
    const t = text('other-root-cross.pem');
    expect(t).toMatch(/Subject: C = DE, O = Strongroom Test, CN = Other Root\n/);
    expect(t).toMatch(/Issuer: C = DE, O = Strongroom Example, CN = Strongroom Example Root CA R1\n/);
    expect(t).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/);
    // Without the cross-certificate the other root's subordinate does not chain to this root; with it, it does.
    expect(openssl(['verify', '-attime', AT_TIME, '-CAfile', f('root.pem'), f('other-sub.pem')]).ok).toBe(false);
    expect(openssl(['verify', '-attime', AT_TIME, '-CAfile', f('root.pem'), '-untrusted', f('other-root-cross.pem'), f('other-sub.pem')]).ok).toBe(true);
  });

  it('6c. key-backup: the KEK is split among its own custodians, the key leaves the token only wrapped', async () => {
    mkdirSync(f('kek-shares'));
    const r = await ceremony('key-backup.yaml', '--so-pin-source', `file:${rootSoPinFile}`, '--kek-share-dir', f('kek-shares'), ...shares('alice', 'bob'), '--yes');
    expect(r.out).toMatch(/KEK: {17}32 bytes from the HSM's C_GenerateRandom/);
    for (const c of ['dora', 'erin', 'frank']) {
      expect(statSync(f(`kek-shares/${c}.kek.share`)).mode & 0o777).toBe(0o600);
      expect(readFileSync(f(`kek-shares/${c}.kek.share`), 'utf8')).toMatch(/^strongroom-share:v1:root-ca-kek:[0-9a-f]{16}:\d\/3:2:/);
    }
    const wrapped = JSON.parse(readFileSync(f('root-ca.wrapped.json'), 'utf8')) as { keyType: string; spkiSha256: string; wrapped: string; kek: { splitId: string } };
    expect(wrapped).toMatchObject({ keyType: 'ec-p384', spkiSha256: (await entries())[0]!.signer.spkiSha256 });
    expect(Buffer.from(wrapped.wrapped, 'base64').length).toBeGreaterThan(64);
    expect(readFileSync(f('root-ca.backup.pub.pem'), 'utf8')).toBe(readFileSync(f('root.pub.pem'), 'utf8'));
    const entry = (await entries()).at(-1)!;
    expect(entry).toMatchObject({ type: 'key-backup', details: expect.objectContaining({ mechanism: 'aes-key-wrap-pad', kek: expect.objectContaining({ source: 'C_GenerateRandom', splitId: wrapped.kek.splitId, threshold: 2 }) }) });
    // The backup added nothing to the token (the trusted wrapping key was a session object).
    expect(keyCount(ROOT, rootPin)).toBe(1);
  });

  it('6d. key-restore: two KEK custodians and two DR custodians restore the key into the DR token, proven', async () => {
    expect((await run(['hsm', 'init-token', '--token', DR, '--pin-source', `file:${drPinFile}`])).code).toBe(0);
    mkdirSync(f('dr-shares'));
    expect((await run(['ceremony', 'split-pin', '--threshold', '2', '--custodians', 'alice,bob,carol', '--label', DR, '--pin-source', `file:${drPinFile}`, '--out-dir', f('dr-shares')])).code).toBe(0);
    const kek = ['--kek-share-file', `dora=${f('kek-shares/dora.kek.share')}`, '--kek-share-file', `frank=${f('kek-shares/frank.kek.share')}`];
    const r = await ceremony('key-restore.yaml', ...kek, ...shares('bob', 'carol', 'dr-shares'), '--yes');
    expect(r.out).toMatch(/KEK custody: 2 of 3 custodians gave their shares/);
    const proof = JSON.parse(readFileSync(f('root-ca.restore-proof.json'), 'utf8')) as { token: { label: string }; poolProof: { algorithm: string; challenge: string; signature: string } };
    expect(proof.token.label).toBe(DR);
    const rootKey = createPublicKey(readFileSync(f('root.pub.pem'), 'utf8'));
    expect(verify('sha384', Buffer.from(proof.poolProof.challenge, 'base64'), rootKey, Buffer.from(proof.poolProof.signature, 'base64'))).toBe(true);
    const entry = (await entries()).at(-1)!;
    expect(entry).toMatchObject({ type: 'key-restore', token: expect.objectContaining({ label: DR }) });
    expect(entry.signer.spkiSha256).toBe(entry.keys[0]!.spkiSha256);
    // Honest attributes: an unwrapped key is not CKA_LOCAL, and not extractable any more.
    expect(entry.keys[0]!.attributes).toMatchObject({ local: false, extractable: false, sensitive: true });
    const drPin = readFileSync(drPinFile, 'utf8');
    expect(keyCount(DR, drPin)).toBe(1);
  });

  it('7. verify-transcript: OK pinned to the root; a foreign pin, an edit, a removal and a reordering are reported precisely', async () => {
    const ok = await run(['ceremony', 'verify-transcript', f('transcript.jsonl'), '--root', f('root.pem')]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/OK — 8 entries, chain intact, every signature valid, signed by the pinned root key/);
    expect(ok.out).toMatch(/seq 3 .* intermediate-cert .* issuing\.pem/);

    const foreign = await run(['ceremony', 'verify-transcript', f('transcript.jsonl'), '--root', f('other-root.pem')]);
    expect(foreign.code).toBe(1);
    expect(foreign.out).toMatch(/PROBLEM line 1 \(seq 1\) \[untrusted-signer\]/);

    const lines = readFileSync(f('transcript.jsonl'), 'utf8').split('\n').slice(0, -1);
    const edited = [...lines];
    const e3 = JSON.parse(edited[2]!) as TranscriptEntry;
    edited[2] = canonicalJson({ ...e3, operators: ['Mallory'] });
    const tampered = write(W, 'tampered.jsonl', `${edited.join('\n')}\n`);
    const r1 = await run(['ceremony', 'verify-transcript', tampered, '--root', f('root.pem')]);
    expect(r1.code).toBe(1);
    expect(r1.out).toMatch(/PROBLEM line 3 \(seq 3\) \[edited\]: line 3 \(seq 3\): the signature does not match the content/);
    expect(r1.out).not.toMatch(/PROBLEM line [^3]/);

    const removed = write(W, 'removed.jsonl', `${lines.filter((_, i) => i !== 1).join('\n')}\n`);
    const r2 = await run(['ceremony', 'verify-transcript', removed]);
    expect(r2.code).toBe(1);
    expect(r2.out).toMatch(/\[removed\]: entry seq 2 is missing between seq 1 \(line 1\) and seq 3 \(line 2\)/);

    const swapped = [...lines];
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    const r3 = await run(['ceremony', 'verify-transcript', write(W, 'swapped.jsonl', `${swapped.join('\n')}\n`)]);
    expect(r3.code).toBe(1);
    expect(r3.out).toMatch(/\[reordered\]/);

    const truncatedHead = await run(['ceremony', 'verify-transcript', f('transcript.jsonl'), '--head', '0'.repeat(64)]);
    expect(truncatedHead.code).toBe(1);
    expect(truncatedHead.out).toMatch(/no verified line has the recorded head hash/);
  });

  it('8. a ceremony refuses to append to a transcript that does not verify, before the HSM', async () => {
    write(W, 'root-crl-3.yaml', docYaml('root-crl.yaml', ROOT).replace('number: 1', 'number: 3').replace('crl: root-1.crl', 'crl: root-3.crl').replace('transcript: transcript.jsonl', 'transcript: tampered.jsonl'));
    const before = sha256File(f('tampered.jsonl'));
    const r = await run(['ceremony', 'run', f('root-crl-3.yaml'), ...shares('alice', 'bob'), '--yes']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/transcript: .*tampered\.jsonl does not verify; no ceremony appends to a broken record:\n\s+line 3: /);
    expect(r.out).not.toMatch(/dual control/);
    expect(existsSync(f('root-3.crl'))).toBe(false);
    expect(sha256File(f('tampered.jsonl'))).toBe(before);
  });

  it('9. the transcript records the facts of every ceremony and nothing secret', async () => {
    const all = await entries();
    expect(all.map((e) => e.type)).toEqual(['root-key', 'root-cert', 'intermediate-cert', 'root-crl', 'root-crl', 'cross-cert', 'key-backup', 'key-restore']);
    const rootSpki = all[0]!.signer.spkiSha256;
    for (const [i, e] of all.entries()) {
      expect(e.seq).toBe(i + 1);
      expect(e.signer.spkiSha256).toBe(rootSpki);
      expect(e.custodians).toEqual({ threshold: 2, present: 2 });
      expect(e.token.label).toBe(e.type === 'key-restore' ? DR : ROOT);
      for (const o of e.outputs) expect(o.sha256).toBe(sha256File(f(o.path)));
    }
  });
});
