// The ceremony transcript: append and verify, every kind of tampering pinpointed to its line, and one transcript
// signed for real through the session pool by a key inside SoftHSM2.
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../ca/encoding/canonical-json.ts';
import {
  appendEntry,
  GENESIS_PREV_HASH,
  keyRecordFrom,
  lastCrlNumber,
  outputRecord,
  signedBytes,
  tokenRecordFrom,
  TranscriptError,
  trustedSpkiFrom,
  verifyTranscript,
  verifyTranscriptBytes,
  type EntryInput,
  type ProblemKind,
  type TranscriptEntry,
} from '../../ca/ceremony/transcript.ts';
import { Pkcs11KeyStore } from '../../hsm/key-store.ts';
import { SessionPool } from '../../hsm/session-pool.ts';
import { PoolSigner, type Signer } from '../../hsm/signer.ts';
import { createTestToken } from '../support/token.ts';
import { SoftwareSigner } from '../support/software-signer.ts';

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'strongroom-transcript-'));
let fileNo = 0;
const freshPath = () => join(dir, `transcript-${++fileNo}.jsonl`);

const rootKey = SoftwareSigner.generate('ec-p384');
const otherKey = SoftwareSigner.generate('ec-p384');

function input(n: number, overrides: Partial<EntryInput> = {}): EntryInput {
  return {
    time: `2025-01-0${n}T10:00:00.000Z`,
    type: 'root-cert',
    configSha256: sha256(`config ${n}`),
    operators: ['alice', 'bob'],
    custodians: { threshold: 2, present: 3 },
    token: { manufacturer: 'SoftHSM project', model: 'SoftHSM v2', serial: '0123456789abcdef', label: 'root' },
    keys: [
      {
        label: 'root-ca',
        id: 'a1b2',
        type: 'ec-p384',
        spkiSha256: sha256(rootKey.spki),
        attributes: { local: true, neverExtractable: true, alwaysSensitive: true, sensitive: true, extractable: false },
      },
    ],
    outputs: [{ path: `out/${n}.pem`, sha256: sha256(`output ${n}`) }],
    details: { note: `entry ${n}` },
    ...overrides,
  };
}

/** A five-entry transcript signed by rootKey; entry 4 is a root CRL. */
async function fiveEntries(path = freshPath()): Promise<string> {
  for (let n = 1; n <= 5; n++) {
    await appendEntry(path, input(n, n === 4 ? { type: 'root-crl', details: { crlNumber: '7', nextUpdate: '2026-01-01T00:00:00Z' } } : {}), rootKey);
  }
  return path;
}

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').slice(0, -1);
const join_ = (ls: string[]) => ls.map((l) => `${l}\n`).join('');
const pins = { trustedSpkis: [rootKey.spki] };

/** An entry signed by `signer` in place of seq `seq`, chained where the original was. */
async function forged(original: TranscriptEntry, signer: Signer, change: Partial<TranscriptEntry> = {}): Promise<string> {
  const { signature: _s, ...rest } = original;
  const unsigned = {
    ...rest,
    ...change,
    signer: { spki: Buffer.from(signer.spki).toString('base64'), spkiSha256: sha256(signer.spki), algorithm: signer.algorithm },
  };
  const sig = await signer.sign(signedBytes(unsigned));
  return canonicalJson({ ...unsigned, signature: Buffer.from(sig).toString('base64') });
}

describe('appendEntry and verifyTranscript', () => {
  it('writes canonical, chained, signed lines that verify, pinned and unpinned', async () => {
    const path = await fiveEntries();
    const ls = lines(path);
    expect(ls).toHaveLength(5);
    let prev = GENESIS_PREV_HASH;
    ls.forEach((line, i) => {
      const e = JSON.parse(line) as TranscriptEntry;
      expect(e.seq).toBe(i + 1);
      expect(e.prevHash).toBe(prev);
      expect(canonicalJson(e)).toBe(line);
      // Independently: the signature covers the canonical JSON of everything but the signature.
      const { signature, ...unsigned } = e;
      const key = createPublicKey({ key: Buffer.from(e.signer.spki, 'base64'), format: 'der', type: 'spki' });
      expect(nodeVerify('sha384', Buffer.from(canonicalJson(unsigned)), key, Buffer.from(signature, 'base64'))).toBe(true);
      expect(e.signer).toEqual({ spki: Buffer.from(rootKey.spki).toString('base64'), spkiSha256: sha256(rootKey.spki), algorithm: 'ecdsa-sha384' });
      prev = sha256(line);
    });
    for (const options of [{}, pins]) {
      const r = await verifyTranscript(path, options);
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(r.head).toEqual({ line: 5, seq: 5, hash: sha256(ls[4]!) });
      expect(r.signers).toEqual([sha256(rootKey.spki)]);
    }
    expect((await verifyTranscript(path, { expectedHead: sha256(ls[2]!) })).ok).toBe(true);
  });

  it('returns the line, seq and head hash of the new entry; the file never holds the lock afterwards', async () => {
    const path = freshPath();
    const r1 = await appendEntry(path, input(1), rootKey);
    const r2 = await appendEntry(path, input(2), rootKey);
    expect([r1.line, r1.entry.seq, r2.line, r2.entry.seq]).toEqual([1, 1, 2, 2]);
    expect(r2.entry.prevHash).toBe(r1.hash);
    expect(r2.hash).toBe(sha256(lines(path)[1]!));
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('signs with RSA-PSS and Ed25519 keys as well', async () => {
    for (const signer of [SoftwareSigner.generate('rsa-2048', 'rsa-pss-sha256'), SoftwareSigner.generate('ed25519')]) {
      const path = freshPath();
      await appendEntry(path, input(1, { keys: [] }), signer);
      await appendEntry(path, input(2, { keys: [] }), signer);
      expect((await verifyTranscript(path, { trustedSpkis: [signer.spki] })).problems).toEqual([]);
    }
  });

  it('an empty file is an empty, valid transcript; a missing one is an error to verify and a new one to append', async () => {
    const empty = freshPath();
    writeFileSync(empty, '');
    expect(await verifyTranscript(empty)).toMatchObject({ ok: true, entries: [], problems: [] });
    const missing = freshPath();
    await expect(verifyTranscript(missing)).rejects.toThrow(TranscriptError);
    await appendEntry(missing, input(1), rootKey);
    expect((await verifyTranscript(missing)).ok).toBe(true);
  });
});

describe('tampering is reported with its kind and line', () => {
  let original: string;
  let ls: string[];
  let entries: TranscriptEntry[];
  beforeAll(async () => {
    original = readFileSync(await fiveEntries(), 'utf8');
    ls = original.split('\n').slice(0, -1);
    entries = ls.map((l) => JSON.parse(l) as TranscriptEntry);
  });

  const edit = (i: number, f: (e: TranscriptEntry) => void) => {
    const e = JSON.parse(ls[i]!) as TranscriptEntry;
    f(e);
    return canonicalJson(e);
  };
  type Case = [name: string, tamper: () => Promise<string> | string, expected: [ProblemKind, number, number | null][], options?: { unpinned?: boolean }];
  const cases: Case[] = [
    ['a field edited (operator name)', () => join_(ls.map((l, i) => (i === 2 ? edit(2, (e) => (e.operators[0] = 'mallory')) : l))), [['edited', 3, 3]]],
    ['a key attribute edited', () => join_(ls.map((l, i) => (i === 1 ? edit(1, (e) => (e.keys[0]!.attributes.neverExtractable = false)) : l))), [['edited', 2, 2]]],
    ['the last entry edited', () => join_(ls.map((l, i) => (i === 4 ? edit(4, (e) => (e.outputs[0]!.sha256 = sha256('other'))) : l))), [['edited', 5, 5]]],
    ['the seq of an entry edited', () => join_(ls.map((l, i) => (i === 2 ? edit(2, (e) => (e.seq = 7)) : l))), [['edited', 3, 7]]],
    ['a textual edit that keeps the line canonical', () => original.replace('"alice"', '"alicf"'), [['edited', 1, 1]]],
    ['a line deleted', () => join_(ls.filter((_, i) => i !== 2)), [['removed', 3, 3]]],
    ['the first line deleted', () => join_(ls.slice(1)), [['removed', 1, 1]]],
    ['two lines deleted', () => join_(ls.filter((_, i) => i !== 1 && i !== 2)), [['removed', 2, 2]]],
    ['two adjacent lines swapped', () => join_([ls[0]!, ls[2]!, ls[1]!, ls[3]!, ls[4]!]), [['reordered', 3, 2]]],
    ['the last two lines swapped', () => join_([ls[0]!, ls[1]!, ls[2]!, ls[4]!, ls[3]!]), [['reordered', 5, 4]]],
    ['an entry moved to the end', () => join_([ls[0]!, ls[2]!, ls[3]!, ls[4]!, ls[1]!]), [['reordered', 5, 2]]],
    ['the last line truncated', () => original.slice(0, original.length - 40), [['malformed', 5, null]]],
    ['the final newline removed', () => original.slice(0, -1), [['malformed', 5, null]]],
    ['garbage appended', () => `${original}this is not an entry\n`, [['malformed', 6, null]]],
    ['a blank line inserted', () => join_([ls[0]!, '', ...ls.slice(1)]), [['malformed', 2, null]]],
    ['JSON that is not an entry appended', () => `${original}{"seq":6}\n`, [['malformed', 6, 6]]],
    ['a line re-formatted (content intact)', () => join_(ls.map((l, i) => (i === 2 ? JSON.stringify(JSON.parse(l), null, 0).replace('{"', '{ "') : l))), [['malformed', 3, 3]]],
    ['a signature replaced with random bytes', () => join_(ls.map((l, i) => (i === 2 ? edit(2, (e) => (e.signature = randomBytes(72).toString('base64'))) : l))), [['bad-signature', 3, 3]]],
    ['a signature replaced with non-base64', () => join_(ls.map((l, i) => (i === 2 ? edit(2, (e) => (e.signature = 'not base64!')) : l))), [['bad-signature', 3, 3]]],
    ['the signer hash no longer matching the signer key', () => join_(ls.map((l, i) => (i === 2 ? edit(2, (e) => (e.signer.spkiSha256 = sha256('x'))) : l))), [['bad-signature', 3, 3]]],
    ['a signature replaced with another entry\'s', () => join_(ls.map((l, i) => (i === 2 ? edit(2, (e) => (e.signature = entries[3]!.signature)) : l))), [['edited', 3, 3]]],
    [
      'a signature replaced with another valid one (ECDSA s → n − s)',
      () =>
        join_(
          ls.map((l, i) => {
            if (i !== 2) return l;
            return edit(2, (e) => {
              const der = Buffer.from(e.signature, 'base64');
              e.signature = Buffer.from(malleate(der)).toString('base64');
            });
          }),
        ),
      [['edited', 3, 3]],
    ],
    ['an entry duplicated', () => join_([ls[0]!, ls[1]!, ls[1]!, ...ls.slice(2)]), [['edited', 3, 2]]],
    ['an entry re-signed with another key', async () => join_(ls.map((l, i) => (i === 2 ? forgedLines.get('other')! : l))), [['untrusted-signer', 3, 3]]],
    ['an entry re-signed with another key (unpinned)', async () => join_(ls.map((l, i) => (i === 2 ? forgedLines.get('other')! : l))), [['untrusted-signer', 3, 3]], { unpinned: true }],
    [
      'an edited entry re-signed with another key, and the rest re-chained and re-signed too (unpinned)',
      () => forgedLines.get('rechained')!,
      [['untrusted-signer', 3, 3], ['untrusted-signer', 4, 4], ['untrusted-signer', 5, 5]],
      { unpinned: true },
    ],
    ['an entry appended by another key', () => `${original}${forgedLines.get('appended')!}\n`, [['untrusted-signer', 6, 6]]],
    ['an entry appended with a far-off seq (must not hang the verifier)', () => `${original}${forgedLines.get('far')!}\n`, [['untrusted-signer', 6, 1e15], ['removed', 6, 6]]],
    ['an entry edited and an entry deleted', () => join_([ls[0]!, edit(1, (e) => (e.operators = ['eve'])), ls[3]!, ls[4]!]), [['edited', 2, 2], ['removed', 3, 3]]],
  ];

  const forgedLines = new Map<string, string>();
  beforeAll(async () => {
    forgedLines.set('other', await forged(entries[2]!, otherKey));
    forgedLines.set('appended', await forged(entries[4]!, otherKey, { seq: 6, prevHash: sha256(ls[4]!) }));
    forgedLines.set('far', await forged(entries[4]!, otherKey, { seq: 1e15, prevHash: sha256(ls[4]!) }));
    // Everything from entry 3 on, rewritten by someone holding otherKey: the chain is intact, only trust fails.
    const out = [ls[0]!, ls[1]!];
    for (let i = 2; i < 5; i++) out.push(await forged(entries[i]!, otherKey, { prevHash: sha256(out[i - 1]!), operators: ['eve'] }));
    forgedLines.set('rechained', join_(out));
  });

  it.each(cases)('%s', async (_name, tamper, expected, options = {}) => {
    const r = verifyTranscriptBytes(Buffer.from(await tamper()), options.unpinned ? {} : pins);
    expect(r.problems.map((p) => [p.kind, p.line, p.seq])).toEqual(expected);
    expect(r.ok).toBe(false);
    for (const p of r.problems) expect(p.message).toMatch(new RegExp(`line ${p.line}|seq ${p.seq}`));
  });

  it('names the neighbours of a removed entry and of a moved one', () => {
    const removed = verifyTranscriptBytes(Buffer.from(join_(ls.filter((_, i) => i !== 2))), pins).problems[0]!;
    expect(removed.message).toBe('entry seq 3 is missing between seq 2 (line 2) and seq 4 (line 3): removed from the transcript');
    const swapped = verifyTranscriptBytes(Buffer.from(join_([ls[0]!, ls[2]!, ls[1]!, ls[3]!, ls[4]!])), pins).problems[0]!;
    expect(swapped.message).toBe('line 3 (seq 2) comes after seq 3 (line 2): it belongs after seq 1 (line 1)');
  });

  it('detects entries removed from the end only against a recorded head', () => {
    const head = sha256(ls[4]!);
    const cut = Buffer.from(join_(ls.slice(0, 4)));
    expect(verifyTranscriptBytes(cut, pins).ok).toBe(true);
    const r = verifyTranscriptBytes(cut, { ...pins, expectedHead: head });
    expect(r.problems.map((p) => [p.kind, p.line, p.seq])).toEqual([['removed', 5, 5]]);
  });

  it('unpinned, a new key may sign only the entry that records it (a root-key ceremony) and later ones', async () => {
    const path = freshPath();
    writeFileSync(path, original);
    const newRoot = SoftwareSigner.generate('ec-p256');
    const record = { label: 'root-2', id: '01', type: 'ec-p256' as const, spkiSha256: sha256(newRoot.spki), attributes: input(1).keys[0]!.attributes };
    // Not recorded anywhere: refused, nothing written.
    await expect(appendEntry(path, input(6, { keys: [] }), newRoot)).rejects.toThrow(/would not verify.*untrusted|signed by key/s);
    expect(readFileSync(path, 'utf8')).toBe(original);
    await appendEntry(path, input(6, { type: 'root-key', keys: [record] }), newRoot);
    await appendEntry(path, input(7, { keys: [] }), newRoot);
    const r = await verifyTranscript(path);
    expect(r.problems).toEqual([]);
    expect(r.signers).toEqual([sha256(rootKey.spki), sha256(newRoot.spki)]);
    // Pinned to the first root only, the new root's entries are untrusted.
    expect((await verifyTranscript(path, pins)).problems.map((p) => [p.kind, p.line])).toEqual([['untrusted-signer', 6], ['untrusted-signer', 7]]);
    expect((await verifyTranscript(path, { trustedSpkis: [rootKey.spki, newRoot.spki] })).ok).toBe(true);
  });
});

describe('appendEntry refuses', () => {
  it('to append to a transcript that does not verify, and writes nothing', async () => {
    const path = await fiveEntries();
    const tampered = readFileSync(path, 'utf8').replace('"bob"', '"bub"');
    writeFileSync(path, tampered);
    await expect(appendEntry(path, input(6), rootKey)).rejects.toThrow(/refusing to append.*line 1: .*changed after it was signed/s);
    expect(readFileSync(path, 'utf8')).toBe(tampered);
  });

  it('an entry signed by a key other than the pinned one', async () => {
    const path = await fiveEntries();
    const before = readFileSync(path);
    await expect(appendEntry(path, input(6), otherKey, pins)).rejects.toThrow(/not a pinned key/);
    expect(readFileSync(path)).toEqual(before);
  });

  it('when an HSM signature does not verify, and writes nothing', async () => {
    const path = await fiveEntries();
    const before = readFileSync(path);
    const liar: Signer = { keyType: rootKey.keyType, algorithm: rootKey.algorithm, spki: rootKey.spki, sign: (d) => otherKey.sign(d) };
    await expect(appendEntry(path, input(6), liar)).rejects.toThrow(/would not verify/);
    expect(readFileSync(path)).toEqual(before);
  });

  it('while another append holds the lock', async () => {
    const path = await fiveEntries();
    writeFileSync(`${path}.lock`, '');
    await expect(appendEntry(path, input(6), rootKey)).rejects.toThrow(/lock exists: another append is in progress/);
  });

  const badInputs: [string, Partial<EntryInput> | ((i: EntryInput) => unknown), RegExp][] = [
    ['undefined in details', { details: { x: undefined } }, /\$\.details\.x is undefined/],
    ['NaN in details', { details: { x: Number.NaN } }, /\$\.details\.x is NaN/],
    ['a missing field', (i) => ({ ...i, configSha256: undefined }), /configSha256/],
    ['an unknown field', (i) => ({ ...i, shares: ['secret'] }), /shares|unrecognized/i],
    ['a bad hash', { configSha256: 'abc' }, /configSha256: expected 64 lowercase hex/],
    ['no operators', { operators: [] }, /operators: at least one operator/],
    ['fewer custodians than the threshold', { custodians: { threshold: 3, present: 2 } }, /custodians: fewer custodians present/],
    ['a root-crl without a CRL number', { type: 'root-crl', details: {} }, /details\.crlNumber/],
    ['a root-crl with a non-decimal CRL number', { type: 'root-crl', details: { crlNumber: '0x10' } }, /details\.crlNumber/],
    ['an unknown ceremony type', (i) => ({ ...i, type: 'coffee' }), /type/],
    ['a bad time', { time: '2025-02-30T10:00:00Z' }, /time/],
  ];
  it.each(badInputs)('an input with %s, naming the field', async (_name, change, message) => {
    const path = freshPath();
    const i = typeof change === 'function' ? (change(input(1)) as EntryInput) : input(1, change);
    await expect(appendEntry(path, i, rootKey)).rejects.toThrow(TranscriptError);
    await expect(appendEntry(path, i, rootKey)).rejects.toThrow(message);
    expect(existsSync(path)).toBe(false);
  });
});

describe('facts read back from the transcript', () => {
  it('lastCrlNumber: the highest number recorded for the issuer, compared as integers', async () => {
    const path = freshPath();
    const crl = (n: string, extra: Record<string, unknown> = {}) => input(1, { type: 'root-crl', details: { crlNumber: n, ...extra } });
    await appendEntry(path, input(1), rootKey);
    expect(lastCrlNumber((await verifyTranscript(path)).entries, sha256(rootKey.spki))).toBeUndefined();
    await appendEntry(path, crl('9'), rootKey);
    await appendEntry(path, crl('10'), rootKey);
    await appendEntry(path, crl('2'), rootKey);
    await appendEntry(path, crl('99999999999999999999999999', { issuerSpkiSha256: sha256('another issuer') }), rootKey);
    const { entries, ok } = await verifyTranscript(path, pins);
    expect(ok).toBe(true);
    expect(lastCrlNumber(entries, sha256(rootKey.spki))).toBe(10n);
    expect(lastCrlNumber(entries, sha256('another issuer'))).toBe(99999999999999999999999999n);
    expect(lastCrlNumber(entries, sha256('nobody'))).toBeUndefined();
  });

  it('trustedSpkiFrom accepts a PEM public key and DER SPKI', () => {
    const pem = createPublicKey({ key: Buffer.from(rootKey.spki), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }) as string;
    expect(Buffer.from(trustedSpkiFrom(pem))).toEqual(Buffer.from(rootKey.spki));
    expect(Buffer.from(trustedSpkiFrom(rootKey.spki))).toEqual(Buffer.from(rootKey.spki));
  });

  it('trustedSpkiFrom takes the public key out of a root certificate, PEM or DER', () => {
    const key = join(dir, 'root.key');
    const cert = join(dir, 'root.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=Test root', '-days', '1', '-keyout', key, '-out', cert], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const pemText = readFileSync(cert, 'utf8');
    const spki = createPublicKey(createPrivateKey(readFileSync(key))).export({ type: 'spki', format: 'der' });
    expect(Buffer.from(trustedSpkiFrom(pemText))).toEqual(spki);
    const der = Buffer.from(pemText.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    expect(Buffer.from(trustedSpkiFrom(der))).toEqual(spki);
  });

  it('outputRecord hashes the file bytes', async () => {
    const f = join(dir, 'out.pem');
    writeFileSync(f, 'hello');
    expect(await outputRecord(f)).toEqual({ path: f, sha256: sha256('hello') });
  });
});

describe('a transcript signed inside SoftHSM2 through the session pool', () => {
  let pool: SessionPool | undefined;
  let store: Pkcs11KeyStore | undefined;
  afterAll(async () => {
    await pool?.close();
    store?.close();
  });

  it('appends entries signed by an HSM key whose attributes are recorded as read back, and verifies pinned', async () => {
    const token = createTestToken('ceremony');
    store = Pkcs11KeyStore.open({ module: token.module, token: { label: token.label }, pin: token.pin });
    const key = store.generate({ type: 'ec-p256', label: 'root-ca' });
    pool = await SessionPool.open({
      primary: { name: 'primary', module: token.module, token: { label: token.label }, pin: token.pin },
      workers: 1,
      pipelineDepth: 4,
      queueLimit: 100,
      deadlineMs: 5000,
      keyHandles: 'session-copy',
    });
    const signer = new PoolSigner(pool, { label: 'root-ca' }, key.type, key.spki);
    const path = freshPath();
    const common = { token: tokenRecordFrom(store.token()), keys: [keyRecordFrom(key)] };
    await appendEntry(path, { ...input(1), ...common, type: 'root-key' }, signer);
    await appendEntry(path, { ...input(2), ...common }, signer);
    await appendEntry(path, { ...input(3), ...common, type: 'root-crl', details: { crlNumber: '1' } }, signer);

    const r = await verifyTranscript(path, { trustedSpkis: [key.spki] });
    expect(r.problems).toEqual([]);
    expect(r.entries).toHaveLength(3);
    const first = r.entries[0]!;
    expect(first.signer).toMatchObject({ spkiSha256: key.spkiSha256, algorithm: 'ecdsa-sha256' });
    expect(first.token).toMatchObject({ label: token.label, serial: token.serial });
    expect(first.keys[0]!.attributes).toEqual({ local: true, neverExtractable: true, alwaysSensitive: true, sensitive: true, extractable: false });
    expect(lastCrlNumber(r.entries, key.spkiSha256)).toBe(1n);

    // The HSM's signatures are caught by the same checks.
    const tampered = readFileSync(path, 'utf8').replace('"alice"', '"mallet"');
    expect(verifyTranscriptBytes(Buffer.from(tampered), { trustedSpkis: [key.spki] }).problems.map((p) => [p.kind, p.line])).toEqual([['edited', 1]]);
  });
});

/** The other valid ECDSA signature over the same message: (r, n − s). P-384 here (rootKey is ec-p384). */
function malleate(der: Buffer): Uint8Array {
  const n = BigInt('0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973');
  // DER SEQUENCE { INTEGER r, INTEGER s } with short or 0x81 lengths.
  let off = der[1]! & 0x80 ? 3 : 2;
  const readInt = () => {
    const len = der[off + 1]!;
    const v = BigInt(`0x${der.subarray(off + 2, off + 2 + len).toString('hex')}`);
    off += 2 + len;
    return v;
  };
  const r = readInt();
  const s = readInt();
  const int = (v: bigint) => {
    let hex = v.toString(16);
    if (hex.length % 2) hex = `0${hex}`;
    if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
    const b = Buffer.from(hex, 'hex');
    return Buffer.concat([Buffer.from([0x02, b.length]), b]);
  };
  const body = Buffer.concat([int(r), int(n - s)]);
  return Buffer.concat([Buffer.from(body.length < 0x80 ? [0x30, body.length] : [0x30, 0x81, body.length]), body]);
}
