// M-of-N custody of the ceremony PIN: split, combine, every way a share can be wrong, and collecting shares from
// custodians (scripted prompts and files).
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  collectShares,
  combineShares,
  CustodyError,
  formatShare,
  parseShare,
  splitPin,
  splitSecret,
  unlockPin,
  type CustodyErrorKind,
} from '../../ca/ceremony/custody.ts';

const names = (n: number) => ['alice', 'bob', 'carol', 'dave', 'erin'].slice(0, n);

/** All k-element subsets of 0..n-1. */
function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  if (n < k) return [];
  return [...subsets(n - 1, k - 1).map((s) => [...s, n - 1]), ...subsets(n - 1, k)];
}

/** Expects a CustodyError of `kind` whose message matches and quotes none of the given share texts. */
async function expectRefusal(p: Promise<unknown>, kind: CustodyErrorKind, message: RegExp, shares: string[]) {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CustodyError);
  const err = e as CustodyError;
  expect(err.kind).toBe(kind);
  expect(err.message).toMatch(message);
  for (const s of shares) {
    expect(err.message).not.toContain(s);
    expect(err.message).not.toContain(parts(s).data);
    expect(err.message).not.toContain(parts(s).data.slice(0, 12));
  }
}

function parts(share: string) {
  const [prefix = '', version = '', label = '', splitId = '', position = '', threshold = '', data = '', check = ''] = share.split(':');
  return { prefix, version, label, splitId, position, threshold, data, check };
}

/** Replaces the checksum with the right one for the rest of the text. */
function withChecksum(share: string): string {
  const body = share.slice(0, share.lastIndexOf(':'));
  return `${body}:${createHash('sha256').update(body).digest().subarray(0, 4).toString('hex')}`;
}

/** Rebuilds a share with a changed field and a correct checksum (a deliberate change, not a typo). */
function rebuilt(share: string, change: (p: ReturnType<typeof parseShare>) => void): string {
  const p = parseShare(share, 'x');
  change(p);
  return formatShare(p);
}

describe('splitSecret and combineShares', () => {
  it.each([
    [2, 3],
    [3, 5],
  ])('%i of %i: every M-subset restores the secret, every (M-1)-subset is refused', async (m, n) => {
    const secret = new Uint8Array(randomBytes(32));
    const shares = await splitSecret(secret, m, n, names(n), { label: 'root-kek' });
    expect(shares).toHaveLength(n);
    for (const subset of subsets(n, m)) expect(Buffer.from(await combineShares(subset.map((i) => shares[i]!), m))).toEqual(Buffer.from(secret));
    // More than M works too (all must be valid).
    expect(Buffer.from(await combineShares(shares, m))).toEqual(Buffer.from(secret));
    for (const subset of subsets(n, m - 1)) {
      await expectRefusal(combineShares(subset.map((i) => shares[i]!), m), 'too-few', new RegExp(`fewer than ${m} shares: ${m - 1} given, ${m} needed`), shares);
    }
  });

  it('writes self-describing shares: prefix, version, label, split id, index/N, M, base64url data, checksum', async () => {
    const secret = new Uint8Array(randomBytes(16));
    const shares = await splitSecret(secret, 2, 3, names(3), { label: 'strongroom-root' });
    const ids = new Set<string>();
    shares.forEach((s, i) => {
      expect(s).toMatch(/^strongroom-share:v1:strongroom-root:[0-9a-f]{16}:\d\/3:2:[A-Za-z0-9_-]+:[0-9a-f]{8}$/);
      const p = parts(s);
      expect(p.position).toBe(`${i + 1}/3`);
      ids.add(p.splitId);
    });
    expect(ids.size).toBe(1);
    // A new split of the same secret has another id.
    const again = await splitSecret(secret, 2, 3, names(3), { label: 'strongroom-root' });
    expect(parts(again[0]!).splitId).not.toBe(parts(shares[0]!).splitId);
  });

  it('never contains the secret in clear, in any common encoding, and hides its length', async () => {
    const pin = 'correct-horse-battery-staple';
    const secret = Buffer.from(pin);
    const shares = await splitPin(pin, 3, 5, names(5));
    const encodings = [pin, secret.toString('hex'), secret.toString('base64'), secret.toString('base64url'), secret.toString('base64url').slice(0, 12)];
    for (const s of shares) for (const enc of encodings) expect(s).not.toContain(enc);
    // PINs of 4 and 28 characters give shares of the same length (the payload is padded).
    const short = await splitPin('1234', 3, 5, names(5));
    expect(short[0]!.length).toBe(shares[0]!.length);
  });

  it('PIN round trip: splitPin then unlockPin, with Unicode', async () => {
    const pin = 'pïn-€-🔐-' + randomBytes(6).toString('hex');
    const shares = await splitPin(pin, 2, 3, names(3));
    expect(await unlockPin([shares[2]!, shares[0]!], 2)).toBe(pin);
  });

  it('ignores whitespace in a share (copied from paper in groups) and the case of the checksum', async () => {
    const shares = await splitPin('123456', 2, 2, ['alice', 'bob']);
    const spaced = shares[0]!.replace(/(.{8})/g, '$1 ').replace(/:/, ':\n');
    const upper = shares[1]!.slice(0, -8) + shares[1]!.slice(-8).toUpperCase();
    expect(await unlockPin([spaced, upper], 2)).toBe('123456');
  });

  describe('refusals name the problem, never the share', () => {
    let a: string[];
    let b: string[];
    const setup = async () => {
      a ??= await splitPin('424242', 2, 3, names(3), { label: 'root' });
      b ??= await splitPin('424242', 2, 3, names(3), { label: 'root' });
    };
    const typo = (s: string, at: number) => {
      const c = s[at] === 'A' ? 'B' : 'A';
      return s.slice(0, at) + c + s.slice(at + 1);
    };
    type Case = [string, () => string[], CustodyErrorKind, RegExp, number?];
    const cases: Case[] = [
      ['a mistyped character in the data', () => [a[0]!, typo(a[1]!, a[1]!.length - 20)], 'bad-checksum', /^share 2 has a bad checksum/],
      ['a mistyped index', () => [a[0]!, a[1]!.replace(':2/3:', ':3/3:')], 'bad-checksum', /^share 2 has a bad checksum/],
      ['a mistyped checksum', () => [a[0]!.slice(0, -1) + ((parseInt(a[0]!.slice(-1), 16) + 1) % 16).toString(16), a[1]!], 'bad-checksum', /^share 1 has a bad checksum/],
      ['a checksum that is not hex', () => [a[0]!.slice(0, -1) + 'g', a[1]!], 'bad-checksum', /^share 1 has a bad checksum/],
      ['shares of two splits of the same PIN', () => [a[0]!, b[1]!], 'different-splits', /^shares from different splits: share 2 does not belong with share 1$/],
      ['a share whose threshold was changed', () => [a[0]!, rebuilt(a[1]!, (p) => (p.threshold = 3))], 'different-splits', /share 2 says 3 of 3, share 1 says 2 of 3/],
      ['the same share twice', () => [a[0]!, a[0]!], 'duplicate-index', /^share 2 repeats share number 1, already given as share 1$/],
      ['the same share under another number', () => [a[0]!, rebuilt(a[0]!, (p) => (p.index = 2))], 'duplicate-index', /^share 2 is the same share as share 1 under another number$/],
      ['garbage', () => [a[0]!, 'hello world'], 'malformed', /^share 2 is not a Strongroom share/],
      ['an empty string', () => ['', a[0]!], 'malformed', /^share 1 is not a Strongroom share/],
      ['a truncated share', () => [a[0]!, a[1]!.slice(0, 60)], 'malformed', /^share 2 is not a Strongroom share/],
      ['another version', () => [a[0]!, withChecksum(a[1]!.replace(':v1:', ':v9:'))], 'malformed', /^share 2 is a share format this version does not read$/],
      ['a changed version without a new checksum', () => [a[0]!, a[1]!.replace(':v1:', ':v9:')], 'bad-checksum', /^share 2 has a bad checksum/],
      ['index 0', () => [a[0]!, rebuilt(a[1]!, (p) => (p.index = 0))], 'malformed', /^share 2 has a malformed share number/],
      ['index beyond N', () => [a[0]!, rebuilt(a[1]!, (p) => (p.index = 4))], 'malformed', /^share 2 has a malformed share number/],
      ['threshold 1', () => [a[0]!, rebuilt(a[1]!, (p) => (p.threshold = 1))], 'malformed', /^share 2 has a threshold outside 2..N/],
      ['data of an impossible length', () => [a[0]!, rebuilt(a[1]!, (p) => (p.data = p.data.subarray(1)))], 'malformed', /^share 2 has share data of an impossible length/],
      ['one share too few', () => [a[2]!], 'too-few', /^fewer than 2 shares: 1 given, 2 needed$/],
      ['no shares', () => [], 'too-few', /^fewer than 2 shares: 0 given, 2 needed$/],
      ['shares for another threshold', () => [a[0]!, a[1]!], 'threshold-mismatch', /^share 1 is from a 2-of-3 split, but the ceremony expects a threshold of 3$/, 3],
      [
        'a share altered with a recomputed checksum',
        () => [a[0]!, rebuilt(a[1]!, (p) => (p.data[5] = p.data[5]! ^ 1))],
        'integrity',
        /^the combined shares do not restore the secret that was split/,
      ],
      [
        'another split\'s data under this split\'s id',
        () => [a[0]!, rebuilt(b[1]!, (p) => (p.splitId = parseShare(a[0]!, 'x').splitId))],
        'integrity',
        /^the combined shares do not restore the secret/,
      ],
    ];
    it.each(cases)('%s', async (_name, shares, kind, message, threshold = 2) => {
      await setup();
      const given = shares();
      await expectRefusal(combineShares(given, threshold), kind, message, [...a, ...b, ...given.filter((s) => s.length > 20)]);
    });

    it('refuses impossible splits', async () => {
      const s = new Uint8Array(8);
      await expectRefusal(splitSecret(s, 1, 3, names(3)), 'bad-request', /threshold must be an integer of at least 2/, []);
      await expectRefusal(splitSecret(s, 4, 3, names(3)), 'bad-request', /number of shares must be an integer from the threshold/, []);
      await expectRefusal(splitSecret(s, 2, 3, names(2)), 'bad-request', /3 shares need 3 custodians, 2 named/, []);
      await expectRefusal(splitSecret(s, 2, 2, ['alice', 'alice']), 'bad-request', /distinct/, []);
      await expectRefusal(splitSecret(new Uint8Array(0), 2, 2, names(2)), 'bad-request', /1 to 1024 bytes/, []);
      await expectRefusal(splitSecret(s, 2, 2, names(2), { label: 'has:colon' }), 'bad-request', /label/, []);
      await expectRefusal(splitPin('', 2, 2, names(2)), 'bad-request', /PIN is empty/, []);
    });
  });
});

describe('collectShares', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strongroom-custody-'));

  function scripted(answers: Record<string, string[]>) {
    const asked: string[] = [];
    const notes: string[] = [];
    const ask = async (q: string) => {
      asked.push(q);
      const name = /^Custodian (\w+),/.exec(q)![1]!;
      return answers[name]!.shift() ?? '';
    };
    return { asked, notes, source: { kind: 'prompt' as const, ask, notify: (m: string) => notes.push(m) } };
  }

  it('asks each custodian in turn until M valid shares are in, then stops', async () => {
    const shares = await splitPin('987654', 2, 3, names(3));
    const s = scripted({ alice: [shares[0]!], bob: [shares[1]!], carol: [shares[2]!] });
    const got = await collectShares({ threshold: 2, custodians: names(3), source: s.source });
    expect(s.asked).toEqual(['Custodian alice, enter your share: ', 'Custodian bob, enter your share: ']);
    expect(got.contributors).toEqual(['alice', 'bob']);
    expect(await unlockPin(got.shares, 2)).toBe('987654');
  });

  it('explains a rejected share and asks again; an empty answer skips a custodian; nothing shown quotes a share', async () => {
    const shares = await splitPin('987654', 2, 3, names(3));
    const mistyped = shares[0]!.replace(/:(.)([^:]*):([0-9a-f]{8})$/, (_m, c: string, rest: string, k: string) => `:${c === 'A' ? 'B' : 'A'}${rest}:${k}`);
    const s = scripted({ alice: ['', 'unused'], bob: [mistyped, shares[1]!], carol: [shares[1]!, shares[2]!] });
    const got = await collectShares({ threshold: 2, custodians: names(3), source: s.source });
    expect(got.contributors).toEqual(['bob', 'carol']);
    expect(s.notes).toEqual([
      'custodian alice skipped',
      "custodian bob's share has a bad checksum: it was mistyped or altered; try again",
      'custodian bob: share accepted (1 of 2)',
      "custodian carol's share repeats share number 2, already given as custodian bob's share; try again",
      'custodian carol: share accepted (2 of 2)',
    ]);
    for (const note of s.notes) for (const share of [...shares, mistyped]) expect(note).not.toContain(parts(share).data.slice(0, 12));
    expect(await unlockPin(got.shares, 2)).toBe('987654');
  });

  it('gives up on a custodian after the allowed tries and fails when the quorum cannot be reached', async () => {
    const shares = await splitPin('987654', 2, 3, names(3));
    const s = scripted({ alice: [shares[0]!], bob: ['x', 'y', 'z', shares[1]!] });
    await expectRefusal(collectShares({ threshold: 2, custodians: ['alice', 'bob'], source: s.source }), 'too-few', /fewer than 2 shares: 1 valid of 2 needed/, shares);
    expect(s.notes).toContain("custodian bob's share is not a Strongroom share (strongroom-share:v1:… with 8 fields); giving up on custodian bob after 3 tries");
  });

  it('refuses to prompt without a terminal', async () => {
    if (process.stdin.isTTY) return;
    await expectRefusal(collectShares({ threshold: 2, custodians: names(2), source: { kind: 'prompt' } }), 'source', /no terminal/, []);
  });

  it('reads shares from files for scripted runs, refusing world-readable files and bad shares', async () => {
    const shares = await splitPin('13579', 3, 5, names(5));
    const files = shares.map((s, i) => {
      const f = join(dir, `share-${i}.txt`);
      writeFileSync(f, `${s}\n`, { mode: 0o600 });
      chmodSync(f, 0o600);
      return f;
    });
    const got = await collectShares({ threshold: 3, custodians: names(5), source: { kind: 'files', files } });
    expect(got.contributors).toEqual(['alice', 'bob', 'carol']);
    expect(await unlockPin(got.shares, 3)).toBe('13579');

    chmodSync(files[1]!, 0o644);
    await expectRefusal(collectShares({ threshold: 3, custodians: names(5), source: { kind: 'files', files } }), 'source', /custodian bob's share: file .* is world-readable/, shares);
    chmodSync(files[1]!, 0o600);
    writeFileSync(files[0]!, 'not a share', { mode: 0o600 });
    await expectRefusal(collectShares({ threshold: 3, custodians: names(5), source: { kind: 'files', files } }), 'malformed', /^custodian alice's share is not a Strongroom share/, shares);
    await expectRefusal(collectShares({ threshold: 3, custodians: names(4), source: { kind: 'files', files } }), 'bad-request', /4 custodians but 5 share files/, shares);
    await expectRefusal(
      collectShares({ threshold: 3, custodians: names(2), source: { kind: 'files', files: [join(dir, 'missing'), files[2]!] } }),
      'source',
      /custodian alice's share: file .* cannot be read/,
      shares,
    );
  });
});
