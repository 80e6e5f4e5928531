// Every ceremony rule broken once: refused with an exit code ≠ 0 and a message naming the field, no new object on
// the token, no output file, the transcript unchanged — and, for everything that can be judged without the HSM,
// refused before a share is asked for. A wrong PIN costs exactly one C_Login (counted by the fault shim).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitSecret } from '../../ca/ceremony/custody.ts';
import { CeremonyError } from '../../ca/ceremony/errors.ts';
import { Pkcs11KeyStore } from '../../hsm/key-store.ts';
import { runCeremony } from '../../ca/ceremony/run.ts';
import { issueCertificate, newSerial } from '../../ca/x509/index.ts';
import { SOFTHSM_MODULE } from '../../hsm/soft-token.ts';
import { buildFaultShim } from '../fault/build-shim.ts';
import { FaultControl } from '../fault/fault-control.ts';
import { SoftwareSigner } from '../support/software-signer.ts';
import { createTestToken, type TestToken } from '../support/token.ts';
import { rootLint, rootSpec } from '../x509/fixtures.ts';
import { cli, docYaml, keyCount, sha256File, shareArgs, write, workspace, writeShares } from './ceremony-support.ts';

const W = workspace('refusals');
const f = (name: string) => join(W, name);
let token: TestToken;
let dr: TestToken;
let shares: Record<string, string>;
let drShares: Record<string, string>;
let kekDir = 0;
/** A fresh, empty folder for a key-backup's KEK share files. */
const freshKekDir = () => {
  const dir = f(`kek-${++kekDir}`);
  mkdirSync(dir);
  return dir;
};
const kekFiles = (dir: string, who: string[]) => who.flatMap((c) => ['--kek-share-file', `${c}=${join(dir, `${c}.kek.share`)}`]);

const pubPem = (key: { export(o: { type: 'spki'; format: 'pem' }): string | Buffer }) => key.export({ type: 'spki', format: 'pem' }).toString();

/** The docs' files, made to write out.pem, on this suite's token. */
const BASE: Record<string, () => string> = {
  'root-key': () => docYaml('root-key.yaml', token.label).replace('label: root-ca', 'label: root-2').replace('public-key: root.pub.pem', 'public-key: out.pem'),
  'root-cert': () => docYaml('root-cert.yaml', token.label).replace('certificate: root.pem', 'certificate: out.pem'),
  'intermediate-cert': () => docYaml('intermediate-cert.yaml', token.label).replace('certificate: issuing.pem', 'certificate: out.pem'),
  'root-crl': () => docYaml('root-crl.yaml', token.label).replace('number: 1', 'number: 6').replace('crl: root-1.crl', 'crl: out.pem'),
  'key-backup': () => docYaml('key-backup.yaml', token.label).replace('wrapped-key: root-ca.wrapped.json', 'wrapped-key: out.pem').replace('public-key: root-ca.backup.pub.pem', 'public-key: out.pub.pem'),
  'key-restore': () => docYaml('key-restore.yaml', token.label, dr.label).replace('restore-proof: root-ca.restore-proof.json', 'restore-proof: out.pem'),
};

/** What a successful key-backup or key-restore would be given, before a case breaks one thing. */
const BACKUP_ARGS = () => ['--so-pin-source', `file:${f('root.so-pin')}`, '--kek-share-dir', freshKekDir(), ...shareArgs(shares)];
const RESTORE_ARGS = (kek = ['dora', 'frank'], dir = f('kek-0')) => [...kekFiles(dir, kek), ...shareArgs(drShares, ['bob', 'carol'])];

async function ceremony(yaml: string, args: string[]) {
  return cli(['ceremony', 'run', write(W, 'case.yaml', yaml), ...args], { STRONGROOM_HSM_PIN: undefined });
}

beforeAll(async () => {
  token = createTestToken('refuse');
  dr = createTestToken('refuse-dr');
  write(W, 'root.so-pin', token.soPin, 0o600);
  write(W, 'wrong.so-pin', `${token.soPin}x`, 0o600);
  mkdirSync(f('shares'));
  mkdirSync(f('dr-shares'));
  shares = await writeShares(f('shares'), token.pin, token.label);
  drShares = await writeShares(f('dr-shares'), dr.pin, dr.label);
  // A key that was never meant to leave its token.
  const store = Pkcs11KeyStore.open({ module: SOFTHSM_MODULE, token: { label: token.label }, pin: token.pin });
  try {
    store.generate({ type: 'ec-p256', label: 'plain' });
  } finally {
    store.close();
  }
  const yes = [...shareArgs(shares), '--yes'];
  for (const name of ['root-key.yaml', 'root-cert.yaml']) {
    const r = await cli(['ceremony', 'run', write(W, name, docYaml(name, token.label)), ...yes]);
    if (r.code !== 0) throw new Error(`${name}: ${r.out}\n${r.err}`);
  }
  const crl5 = await cli(['ceremony', 'run', write(W, 'root-crl-5.yaml', docYaml('root-crl.yaml', token.label).replace('number: 1', 'number: 5')), ...yes]);
  if (crl5.code !== 0) throw new Error(crl5.err);
  // A real backup (KEK shares in kek-0) for the restore cases; and KEK shares of another split.
  mkdirSync(f('kek-0'));
  const backup = await cli(['ceremony', 'run', write(W, 'key-backup.yaml', docYaml('key-backup.yaml', token.label)), '--so-pin-source', `file:${f('root.so-pin')}`, '--kek-share-dir', f('kek-0'), ...yes]);
  if (backup.code !== 0) throw new Error(`${backup.out}\n${backup.err}`);
  mkdirSync(f('kek-other'));
  const otherSplit = await splitSecret(randomBytes(32), 2, 3, ['dora', 'erin', 'frank'], { label: 'root-ca-kek' });
  ['dora', 'erin', 'frank'].forEach((c, i) => write(W, `kek-other/${c}.kek.share`, otherSplit[i]!, 0o600));
  const wrapped = JSON.parse(readFileSync(f('root-ca.wrapped.json'), 'utf8')) as { wrapped: string };
  const blob = Buffer.from(wrapped.wrapped, 'base64');
  blob[10]! ^= 0xff;
  write(W, 'damaged.wrapped.json', `${JSON.stringify({ ...wrapped, wrapped: blob.toString('base64') })}\n`);

  write(W, 'issuing-ca.pub.pem', pubPem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey));
  write(W, 'rsa1024.pub.pem', pubPem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey));
  write(W, 'rsa-e3.pub.pem', pubPem(generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).publicKey));
  write(W, 'p224.pub.pem', pubPem(generateKeyPairSync('ec', { namedCurve: 'secp224r1' }).publicKey));
  write(W, 'ed25519.pub.pem', pubPem(generateKeyPairSync('ed25519').publicKey));
  write(W, 'p384-other.pub.pem', pubPem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey));
  write(W, 'garbage.pub.pem', 'not a PEM file\n');
  const other = SoftwareSigner.generate('ec-p384');
  const otherRoot = await issueCertificate({ ...(await rootSpec(other, 'Not Our Root')), serial: await newSerial((n) => randomBytes(n)) }, other, rootLint);
  write(W, 'other-root.pem', otherRoot.pem);
  write(W, 'existing.pem', 'already here\n');
  // Shares of another split of the same PIN: each valid alone, useless together with this split's.
  mkdirSync(f('other-split'));
  await writeShares(f('other-split'), token.pin, token.label);
}, 60_000);

interface Case {
  name: string;
  base: keyof typeof BASE;
  edit?: (yaml: string) => string;
  args?: () => string[];
  code: number;
  message: RegExp;
  /** Refused only once the HSM is open (the key is not the one the file names, a label is taken). */
  afterHsm?: boolean;
}

const restoreInto = (label: () => string) => (y: string) => y.replace(/label: refuse-dr-[0-9a-f]+/, `label: ${label()}`);

const replace = (from: string | RegExp, to: string) => (y: string) => {
  const out = y.replace(from, to);
  if (out === y) throw new Error(`test setup: ${String(from)} not found`);
  return out;
};

const CASES: Case[] = [
  // Strict YAML
  { name: 'misspelled key', base: 'root-cert', edit: replace('  not-after:', '  not-afer:'), code: 2, message: /unknown key\(s\) "certificate\.not-afer"/ },
  { name: 'unknown top-level key', base: 'root-cert', edit: (y) => `${y}colour: blue\n`, code: 2, message: /unknown key\(s\) "colour"/ },
  { name: 'unknown nested key', base: 'intermediate-cert', edit: replace('  ocsp-url:', '  policy: 1.2.3\n  ocsp-url:'), code: 2, message: /unknown key\(s\) "certificate\.policy"/ },
  { name: 'missing field', base: 'intermediate-cert', edit: replace(/ {2}ocsp-url: .*\n/, ''), code: 2, message: /certificate\.ocsp-url: required field is missing/ },
  { name: 'missing section', base: 'root-cert', edit: replace('signing-key:\n  label: root-ca\n', ''), code: 2, message: /signing-key: required field is missing/ },
  { name: 'wrong type', base: 'root-key', edit: replace('threshold: 2 ', 'threshold: two '), code: 2, message: /custody\.threshold: / },
  { name: 'threshold of one', base: 'root-key', edit: replace('threshold: 2 ', 'threshold: 1 '), code: 2, message: /custody\.threshold: Too small/ },
  { name: 'duplicate key', base: 'root-key', edit: (y) => `${y}type: root-key\n`, code: 2, message: /YAML: .*unique/ },
  { name: 'unknown ceremony type', base: 'root-key', edit: replace('type: root-key', 'type: root-everything'), code: 2, message: /type: / },
  // Outputs
  { name: 'output exists', base: 'intermediate-cert', edit: replace('certificate: out.pem', 'certificate: existing.pem'), code: 2, message: /outputs\.certificate: .*existing\.pem already exists; a ceremony never overwrites/ },
  { name: 'output folder missing', base: 'root-crl', edit: replace('crl: out.pem', 'crl: nowhere/out.pem'), code: 2, message: /outputs\.crl: folder .*nowhere does not exist/ },
  // Keys
  { name: 'RSA-1024 public key', base: 'intermediate-cert', edit: replace('public-key: issuing-ca.pub.pem', 'public-key: rsa1024.pub.pem'), code: 2, message: /inputs\.public-key: an RSA 1024-bit key is refused/ },
  { name: 'RSA e = 3', base: 'intermediate-cert', edit: replace('public-key: issuing-ca.pub.pem', 'public-key: rsa-e3.pub.pem'), code: 2, message: /inputs\.public-key: an RSA key with public exponent 3 is refused/ },
  { name: 'P-224 public key', base: 'intermediate-cert', edit: replace('public-key: issuing-ca.pub.pem', 'public-key: p224.pub.pem'), code: 2, message: /inputs\.public-key: an EC key on curve secp224r1 is refused/ },
  { name: 'Ed25519 public key', base: 'intermediate-cert', edit: replace('public-key: issuing-ca.pub.pem', 'public-key: ed25519.pub.pem'), code: 2, message: /inputs\.public-key: an ed25519 key is refused/ },
  { name: 'RSA-1024 root public key', base: 'root-cert', edit: replace('public-key: root.pub.pem', 'public-key: rsa1024.pub.pem'), code: 2, message: /inputs\.public-key: an RSA 1024-bit key is refused/ },
  { name: 'input not PEM', base: 'root-cert', edit: replace('public-key: root.pub.pem', 'public-key: garbage.pub.pem'), code: 2, message: /inputs\.public-key: .*PUBLIC KEY PEM: expected exactly one PEM block/ },
  { name: 'input missing', base: 'root-cert', edit: replace('public-key: root.pub.pem', 'public-key: nope.pem'), code: 2, message: /inputs\.public-key: cannot read .*nope\.pem: ENOENT/ },
  { name: 'the subject key is the root key', base: 'intermediate-cert', edit: replace('public-key: issuing-ca.pub.pem', 'public-key: root.pub.pem'), code: 2, message: /inputs\.public-key: the subject key is the issuer's own key/ },
  { name: 'signature algorithm the key cannot make', base: 'root-cert', edit: replace('  # signature-algorithm: ecdsa-sha384', '  signature-algorithm: rsa-pss-sha256'), code: 2, message: /certificate\.signature-algorithm: rsa-pss-sha256 cannot be made by the signing key, a ec-p384 key/ },
  // Validity
  { name: 'root validity > 25 years', base: 'root-cert', edit: replace('not-after: 2046-10-31T23:59:59Z', 'not-after: 2051-11-01T00:00:01Z'), code: 2, message: /certificate\.not-after: 2051-11-01T00:00:01Z is more than 25 years after certificate\.not-before/ },
  { name: 'root not-after before not-before', base: 'root-cert', edit: replace('not-after: 2046-10-31T23:59:59Z', 'not-after: 2026-10-31T23:59:59Z'), code: 2, message: /certificate\.not-after: .* is not after certificate\.not-before/ },
  { name: 'intermediate validity > 10 years', base: 'intermediate-cert', edit: replace('not-after: 2031-10-31T23:59:59Z', 'not-after: 2036-11-01T00:00:01Z'), code: 2, message: /certificate\.not-after: .* more than 10 years/ },
  {
    name: 'intermediate beyond its issuer',
    base: 'intermediate-cert',
    edit: (y) => replace('not-after: 2031-10-31T23:59:59Z', 'not-after: 2046-12-31T00:00:00Z')(replace('not-before: 2026-11-01T00:00:00Z', 'not-before: 2037-01-01T00:00:00Z')(y)),
    code: 2,
    message: /certificate\.not-after: 2046-12-31T00:00:00Z is after the issuer certificate's notAfter \(2046-10-31T23:59:59Z, inputs\.issuer-certificate\)/,
  },
  { name: 'intermediate before its issuer', base: 'intermediate-cert', edit: replace('not-before: 2026-11-01T00:00:00Z', 'not-before: 2026-10-01T00:00:00Z'), code: 2, message: /certificate\.not-before: .* before the issuer certificate's notBefore/ },
  // Extensions
  { name: 'https CRL URL', base: 'intermediate-cert', edit: replace('crl-url: http://', 'crl-url: https://'), code: 2, message: /certificate\.crl-url: / },
  { name: 'empty name constraints', base: 'intermediate-cert', edit: replace('    permitted-dns: [example.test]\n', '    permitted-dns: []\n'), code: 2, message: /certificate\.name-constraints: no permitted or excluded names given/ },
  // The HSM key is not the one the file names
  { name: "issuer certificate's key is not the HSM key", base: 'intermediate-cert', edit: replace('issuer-certificate: root.pem', 'issuer-certificate: other-root.pem'), code: 2, afterHsm: true, message: /signing-key\.label: the HSM key "root-ca" on token .* has public key SPKI sha256 [0-9a-f]{64}, but inputs\.issuer-certificate names SPKI sha256 [0-9a-f]{64}: not the key this ceremony is for; nothing signed/ },
  { name: 'expected root public key is not the HSM key', base: 'root-cert', edit: replace('public-key: root.pub.pem', 'public-key: p384-other.pub.pem'), code: 2, afterHsm: true, message: /signing-key\.label: the HSM key "root-ca" .* but inputs\.public-key names SPKI sha256/ },
  { name: 'no such signing key', base: 'root-crl', edit: replace('label: root-ca', 'label: not-there'), code: 2, afterHsm: true, message: /signing-key\.label: no key labelled "not-there" on token/ },
  { name: 'root key label already taken', base: 'root-key', edit: replace('label: root-2', 'label: root-ca'), code: 2, afterHsm: true, message: /key\.label: a key labelled "root-ca" already exists on token/ },
  // CRLs
  { name: 'CRL nextUpdate before thisUpdate', base: 'root-crl', edit: replace('next-update: 2027-05-15T00:00:00Z', 'next-update: 2026-11-14T00:00:00Z'), code: 2, message: /crl\.next-update: 2026-11-14T00:00:00Z is not after crl\.this-update \(2026-11-15T00:00:00Z\)/ },
  { name: 'CRL nextUpdate > 12 months', base: 'root-crl', edit: replace('next-update: 2027-05-15T00:00:00Z', 'next-update: 2027-11-15T00:00:01Z'), code: 2, message: /crl\.next-update: .* more than 12 months after crl\.this-update/ },
  { name: 'CRL number equal to the last', base: 'root-crl', edit: replace('number: 6', 'number: 5'), code: 2, message: /crl\.number: 5 is not greater than 5, the last CRL number the transcript records for this issuer/ },
  { name: 'CRL number below the last', base: 'root-crl', edit: replace('number: 6', 'number: 3'), code: 2, message: /crl\.number: 3 is not greater than 5/ },
  {
    name: 'revoked after thisUpdate',
    base: 'root-crl',
    edit: replace('  revoked: []', '  revoked:\n    - serial: "0a1b2c3d"\n      revocation-date: 2026-11-16T00:00:00Z\n      reason: superseded'),
    code: 2,
    message: /crl\.revoked\[0\]\.revocation-date: 2026-11-16T00:00:00Z is after crl\.this-update/,
  },
  {
    name: 'serial revoked twice',
    base: 'root-crl',
    edit: replace('  revoked: []', '  revoked:\n    - serial: "0a1b"\n      revocation-date: 2026-11-01T00:00:00Z\n      reason: superseded\n    - serial: "A1B"\n      revocation-date: 2026-11-02T00:00:00Z\n      reason: keyCompromise'),
    code: 2,
    message: /crl\.revoked\[1\]\.serial: serial a1b is already listed as crl\.revoked\[0\]/,
  },
  // Dual control
  { name: 'fewer than M shares', base: 'root-crl', args: () => shareArgs(shares, ['alice']), code: 3, message: /custody\.threshold: 2 shares are needed to unlock the ceremony, 1 given/ },
  { name: 'shares of two different splits', base: 'root-crl', args: () => ['--share-file', `alice=${shares.alice!}`, '--share-file', `bob=${f('other-split/bob.share')}`], code: 3, message: /custody: shares from different splits: custodian bob's share does not belong with custodian alice's share/ },
  { name: 'the same share twice', base: 'root-crl', args: () => ['--share-file', shares.alice!, '--share-file', shares.alice!], code: 3, message: /custody: custodian bob's share repeats share number 1/ },
  { name: 'a share from someone who is not a custodian', base: 'root-crl', args: () => ['--share-file', `alice=${shares.alice!}`, '--share-file', `mallory=${shares.bob!}`], code: 2, message: /custody\.custodians: mallory is not a custodian/ },
  { name: 'a world-readable share file', base: 'root-crl', args: () => ['--share-file', `alice=${shares.alice!}`, '--share-file', `carol=${write(W, 'carol-readable.share', readFileSync(shares.carol!, 'utf8'), 0o644)}`], code: 2, message: /custodian carol's share: file .* is world-readable/ },
  // key-backup
  { name: 'backup of a key that is not backup-capable', base: 'key-backup', edit: replace('label: root-ca ', 'label: plain '), args: BACKUP_ARGS, code: 2, afterHsm: true, message: /key\.label: "plain" on token .* is not backup-capable \(CKA_EXTRACTABLE false, CKA_WRAP_WITH_TRUSTED false\)/ },
  { name: 'backup with a wrong SO PIN', base: 'key-backup', args: () => ['--so-pin-source', `file:${f('wrong.so-pin')}`, '--kek-share-dir', freshKekDir(), ...shareArgs(shares)], code: 3, afterHsm: true, message: /C_Login as security officer failed with CKR_PIN_INCORRECT: wrong SO PIN/ },
  { name: 'backup into KEK share files that exist', base: 'key-backup', args: () => ['--so-pin-source', `file:${f('root.so-pin')}`, '--kek-share-dir', f('kek-0'), ...shareArgs(shares)], code: 2, message: /kek-custody: .*dora\.kek\.share.* already exist/ },
  { name: 'backup without a terminal for the KEK shares', base: 'key-backup', args: () => ['--so-pin-source', `file:${f('root.so-pin')}`, ...shareArgs(shares)], code: 2, message: /kek-custody: each KEK custodian is shown their share on the terminal, and there is none/ },
  { name: 'backup with a KEK custodian named twice', base: 'key-backup', edit: replace('custodians: [dora, erin, frank]', 'custodians: [dora, dora, frank]'), args: BACKUP_ARGS, code: 2, message: /kek-custody\.custodians: custodian names must be distinct/ },
  // key-restore
  { name: 'restore with fewer than M KEK shares', base: 'key-restore', args: () => RESTORE_ARGS(['dora']), code: 3, message: /kek-custody\.threshold: 2 shares are needed to unlock the ceremony, 1 given/ },
  { name: "restore with another split's KEK shares", base: 'key-restore', args: () => RESTORE_ARGS(['erin', 'frank'], f('kek-other')), code: 2, message: /kek-custody: the KEK shares are from split [0-9a-f]{16}, the backup's KEK was split as [0-9a-f]{16}/ },
  { name: 'restore with KEK shares of two splits', base: 'key-restore', args: () => ['--kek-share-file', `dora=${f('kek-0/dora.kek.share')}`, '--kek-share-file', `erin=${f('kek-other/erin.kek.share')}`, ...shareArgs(drShares, ['bob', 'carol'])], code: 3, message: /kek-custody: shares from different splits/ },
  { name: 'restore with a public key that is not the backup\'s', base: 'key-restore', edit: replace('public-key: root-ca.backup.pub.pem', 'public-key: p384-other.pub.pem'), args: () => RESTORE_ARGS(), code: 2, message: /inputs\.public-key: SPKI sha256 [0-9a-f]{64} is not the public key of the wrapped key/ },
  { name: 'restore with another KEK threshold than the backup', base: 'key-restore', edit: replace(/kek-custody:\n {2}threshold: 2/, 'kek-custody:\n  threshold: 3'), args: () => RESTORE_ARGS(), code: 2, message: /kek-custody\.threshold: 3, but the backup's KEK was split 2-of-3/ },
  { name: 'restore of a damaged backup', base: 'key-restore', edit: replace('wrapped-key: root-ca.wrapped.json', 'wrapped-key: damaged.wrapped.json'), args: () => RESTORE_ARGS(), code: 1, afterHsm: true, message: /C_UnwrapKey failed with CKR_[A-Z_]+: the KEK does not open this backup, or the backup is damaged/ },
  { name: 'restore onto a label already taken', base: 'key-restore', edit: restoreInto(() => token.label), args: () => [...kekFiles(f('kek-0'), ['dora', 'frank']), ...shareArgs(shares)], code: 2, afterHsm: true, message: /key\.label: a key labelled "root-ca" already exists on token/ },
  { name: 'restore from a wrapped-key file that is not one', base: 'key-restore', edit: replace('wrapped-key: root-ca.wrapped.json', 'wrapped-key: root.pub.pem'), args: () => RESTORE_ARGS(), code: 2, message: /inputs\.wrapped-key: .*root\.pub\.pem is not a wrapped-key file/ },
  { name: 'dry run of a key-backup', base: 'key-backup', args: () => ['--dry-run'], code: 2, message: /type: --dry-run is not available for key-backup ceremonies/ },
];

describe('every rule broken once: refused, the HSM untouched, no output', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const yaml = c.edit ? c.edit(BASE[c.base]!()) : BASE[c.base]!();
    const keysBefore = [keyCount(token.label, token.pin), keyCount(dr.label, dr.pin)];
    const transcript = sha256File(f('transcript.jsonl'));
    const r = await ceremony(yaml, [...(c.args ? c.args() : shareArgs(shares)), '--yes']);
    expect(r.err).toMatch(c.message);
    expect(r.code).toBe(c.code);
    expect(r.err.split('\n').filter((l) => l.startsWith('strongroom: '))).toHaveLength(1);
    expect([keyCount(token.label, token.pin), keyCount(dr.label, dr.pin)]).toEqual(keysBefore);
    expect(sha256File(f('out.pem'))).toBeUndefined();
    expect(sha256File(f('out.pub.pem'))).toBeUndefined();
    expect(sha256File(f('transcript.jsonl'))).toBe(transcript);
    expect(readFileSync(f('existing.pem'), 'utf8')).toBe('already here\n');
    // No KEK share was handed out for a backup that did not happen.
    for (let i = 1; i <= kekDir; i++) expect(readdirSync(f(`kek-${i}`))).toEqual([]);
    // Judged before any custodian was asked, unless only the HSM can tell.
    if (c.afterHsm) expect(r.out).toMatch(/dual control: 2 of 3 custodians/);
    else expect(r.out).not.toMatch(/dual control/);
    for (const s of Object.values(shares)) expect(`${r.out}${r.err}`).not.toContain(readFileSync(s, 'utf8').trim().split(':')[6]!.slice(0, 20));
    expect(`${r.out}${r.err}`).not.toContain(token.pin);
  });

  it('the operators answering "no" at the plan cancels: nothing signed, nothing written', async () => {
    const keysBefore = keyCount(token.label, token.pin);
    const transcript = sha256File(f('transcript.jsonl'));
    const questions: string[] = [];
    const out: string[] = [];
    const p = runCeremony({
      configPath: write(W, 'cancel.yaml', BASE['intermediate-cert']!()),
      yes: false,
      dryRun: false,
      shares: { kind: 'files', files: [{ custodian: 'bob', path: shares.bob! }, { custodian: 'carol', path: shares.carol! }] },
      io: { out: (l) => out.push(l), err: () => undefined, confirm: async (q) => (questions.push(q), false) },
    });
    await expect(p).rejects.toThrow(CeremonyError);
    await expect(p).rejects.toMatchObject({ kind: 'cancelled', message: 'cancelled by the operators: nothing was signed' });
    expect(questions).toEqual(['Sign this certificate with the HSM key?']);
    expect(out.join('\n')).toMatch(/PLAN — intermediate-cert[\s\S]*nameConstraints \(critical\): permitted: DNS:example\.test/);
    expect(keyCount(token.label, token.pin)).toBe(keysBefore);
    expect(sha256File(f('out.pem'))).toBeUndefined();
    expect(sha256File(f('transcript.jsonl'))).toBe(transcript);
  });

  it('… and answering "yes" signs', async () => {
    const code = await runCeremony({
      configPath: write(W, 'confirm.yaml', BASE['root-crl']!().replace('crl: out.pem', 'crl: confirmed.crl')),
      yes: false,
      dryRun: false,
      shares: { kind: 'files', files: [{ path: shares.alice! }, { path: shares.bob! }] },
      io: { out: () => undefined, err: () => undefined, confirm: async () => true },
    });
    expect(code).toBe(0);
    expect(sha256File(f('confirmed.crl'))).toBeDefined();
  });

  it('a dry run is refused by the same checks, before any child process', async () => {
    const r = await ceremony(BASE['root-crl']!().replace('number: 6', 'number: 5'), ['--dry-run']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/crl\.number: 5 is not greater than [56]/);
    expect(r.out).not.toMatch(/dry run/);
  });
});

describe('the CLI around ceremonies', () => {
  it.each([
    ['no subcommand', ['ceremony'], 2, /strongroom ceremony <command>/],
    ['unknown subcommand', ['ceremony', 'perform'], 2, /unknown ceremony command "perform"/],
    ['run without a file', ['ceremony', 'run', '--yes'], 2, /ceremony run takes one ceremony file/],
    ['run with two files', ['ceremony', 'run', 'a.yaml', 'b.yaml', '--yes'], 2, /ceremony run takes one ceremony file/],
    ['run without --yes and without a terminal', ['ceremony', 'run', 'a.yaml'], 2, /no terminal to confirm the plan on/],
    ['run a file that does not exist', ['ceremony', 'run', '/nonexistent/a.yaml', '--yes'], 2, /cannot read ceremony file \/nonexistent\/a\.yaml: ENOENT/],
    ['the internal dry-run flag by hand', ['ceremony', 'run', 'x.yaml', '--yes', '--internal-dry-run-child', '/tmp'], 2, /cannot read ceremony file|internal to --dry-run/],
    ['split-pin with a threshold of 1', ['ceremony', 'split-pin', '--threshold', '1', '--custodians', 'a,b', '--out-dir', '/tmp'], 2, /--threshold M: an integer of at least 2/],
    ['split-pin with too few custodians', ['ceremony', 'split-pin', '--threshold', '3', '--custodians', 'a,b', '--out-dir', '/tmp'], 2, /--custodians: 2 named, the threshold is 3/],
    ['split-pin without a terminal or --out-dir', ['ceremony', 'split-pin', '--threshold', '2', '--custodians', 'a,b'], 2, /run it on a terminal/],
    ['split-pin into a folder that does not exist', ['ceremony', 'split-pin', '--threshold', '2', '--custodians', 'a,b', '--out-dir', '/nonexistent'], 2, /--out-dir: \/nonexistent is not a folder/],
    ['verify-transcript without a file', ['ceremony', 'verify-transcript'], 2, /verify-transcript takes one transcript file/],
    ['a PIN on the command line', ['ceremony', 'split-pin', '--pin', '1234'], 2, /never taken from the command line/],
  ])('%s %j → exit %i', async (_name, argv, code, message) => {
    const r = await cli(argv as string[]);
    expect(`${r.out}\n${r.err}`).toMatch(message);
    expect(r.code).toBe(code);
  });

  it('the internal dry-run flag refuses a folder that is not a fresh dry-run folder', async () => {
    const r = await cli(['ceremony', 'run', write(W, 'child.yaml', BASE['root-key']!()), '--yes', '--internal-dry-run-child', W]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--internal-dry-run-child is internal to --dry-run: use --dry-run/);
    expect(sha256File(f('out.pem'))).toBeUndefined();
  });
});

describe('a wrong PIN', () => {
  let fc: FaultControl;
  let shim: string;
  let wrong: TestToken;
  let wrongShares: Record<string, string>;

  beforeAll(async () => {
    fc = new FaultControl(workspace('ceremony-fault'));
    fc.applyEnv(); // before the shim is loaded
    shim = buildFaultShim();
    wrong = createTestToken('wrong-pin', shim);
    mkdirSync(f('wrong-shares'));
    // Valid shares of a PIN that is not the token's: they combine fine, the token refuses the result.
    wrongShares = await writeShares(f('wrong-shares'), 'not-the-pin-31337', wrong.label);
  });

  afterAll(() => fc?.clear());

  it('exits 3 after exactly one C_Login at the token; nothing generated, nothing written', async () => {
    const yaml = docYaml('root-key.yaml', wrong.label).replace('module: /usr/lib/softhsm/libsofthsm2.so', `module: ${shim}`).replace('public-key: root.pub.pem', 'public-key: wrong.pub.pem').replace('transcript: transcript.jsonl', 'transcript: wrong.jsonl');
    const path = write(W, 'wrong.yaml', yaml);
    const before = fc.stats().logins ?? 0;
    const r = await cli(['ceremony', 'run', path, ...shareArgs(wrongShares, ['bob', 'carol']), '--yes']);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/hsm\.token: the token refused the PIN restored from the shares \(C_Login failed with CKR_PIN_INCORRECT: wrong PIN\); not retried/);
    expect(r.err).not.toContain('not-the-pin-31337');
    expect((fc.stats().logins ?? 0) - before).toBe(1);
    expect(r.out).not.toMatch(/PLAN/);
    expect(keyCount(wrong.label, wrong.pin, SOFTHSM_MODULE)).toBe(0);
    expect(sha256File(f('wrong.pub.pem'))).toBeUndefined();
    expect(sha256File(f('wrong.jsonl'))).toBeUndefined();

    // A second ceremony is a second operator decision: again exactly one attempt, never more.
    const again = await cli(['ceremony', 'run', path, ...shareArgs(wrongShares, ['alice', 'carol']), '--yes']);
    expect(again.code).toBe(3);
    expect((fc.stats().logins ?? 0) - before).toBe(2);
  });
});
