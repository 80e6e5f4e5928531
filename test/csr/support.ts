// Building CSRs byte by byte — good ones, and every kind of bad one — and the assertions the tables share.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { encodeTlv } from '../../ca/x509/der.ts';
import { CsrError, parseCsr, type CsrErrorCode, type ParseCsrOptions, type ParsedCsr } from '../../ca/csr/index.ts';

// ---- DER ------------------------------------------------------------------------------------------------------

type Part = Uint8Array | number[];
const cat = (parts: Part[]) => Uint8Array.from(Buffer.concat(parts.map((p) => Uint8Array.from(p))));
export const tlv = (tag: number, ...parts: Part[]) => encodeTlv(tag, cat(parts));
export const seq = (...parts: Part[]) => tlv(0x30, ...parts);
export const set = (...parts: Part[]) => tlv(0x31, ...parts);
export const nul = () => Uint8Array.from([0x05, 0x00]);
export const bool = (v: boolean) => Uint8Array.from([0x01, 0x01, v ? 0xff : 0x00]);
export const octets = (b: Part) => tlv(0x04, b);
export const bits = (b: Part) => tlv(0x03, [0], b);
export const utf8 = (s: string | Uint8Array) => tlv(0x0c, typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
export const printable = (s: string) => tlv(0x13, Buffer.from(s, 'latin1'));
export const ia5 = (s: string | Uint8Array) => tlv(0x16, typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
export const bytes = (s: string | Part) => (typeof s === 'string' ? Uint8Array.from(Buffer.from(s, 'latin1')) : cat([s]));

export function int(v: bigint | number): Uint8Array {
  let hex = BigInt(v).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  return tlv(0x02, Buffer.from(hex, 'hex'));
}

export function oidContent(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(BigInt);
  const out: number[] = [];
  for (const arc of [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return Uint8Array.from(out);
}
export const oid = (dotted: string) => tlv(0x06, oidContent(dotted));

export const OID = {
  cn: '2.5.4.3',
  o: '2.5.4.10',
  c: '2.5.4.6',
  extensionRequest: '1.2.840.113549.1.9.14',
  challengePassword: '1.2.840.113549.1.9.7',
  san: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  nameConstraints: '2.5.29.30',
  ecPublicKey: '1.2.840.10045.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  p256: '1.2.840.10045.3.1.7',
} as const;

/** A Name of single-attribute RDNs; each value is a ready TLV (so tests can choose the string type and bytes). */
export const name = (...atvs: [string, Uint8Array][]) => seq(...atvs.map(([t, v]) => set(seq(oid(t), v))));
export const cnName = (cn: string) => name([OID.cn, utf8(cn)]);

export const ext = (id: string, value: Uint8Array, critical?: boolean) =>
  seq(oid(id), ...(critical === undefined ? [] : [bool(critical)]), octets(value));

/** The [0] attributes field holding one extensionRequest. */
export const extensionRequest = (...exts: Uint8Array[]) => tlv(0xa0, seq(oid(OID.extensionRequest), set(seq(...exts))));

// GeneralNames
export const gn = {
  dns: (s: string | Uint8Array) => tlv(0x82, bytes(s)),
  email: (s: string | Uint8Array) => tlv(0x81, bytes(s)),
  uri: (s: string | Uint8Array) => tlv(0x86, bytes(s)),
  ip: (b: number[]) => tlv(0x87, b),
  registeredId: (dotted: string) => tlv(0x88, oidContent(dotted)),
  otherName: (dotted: string, value: Uint8Array) => tlv(0xa0, oid(dotted), tlv(0xa0, value)),
  directoryName: (n: Uint8Array) => tlv(0xa4, n),
};
export const san = (...names: Uint8Array[]) => ext(OID.san, seq(...names));

// ---- keys and signing -------------------------------------------------------------------------------------------

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const keyCache = new Map<string, KeyPair>();
export function key(spec: 'p256' | 'p384' | 'p224' | 'secp256k1' | 'p521' | 'rsa1024' | 'rsa2048' | 'rsa2052' | 'rsa2048e3' | 'ed25519' | 'ed448' | 'dsa' | 'rsapss'): KeyPair {
  const cached = keyCache.get(spec);
  if (cached) return cached;
  const curves = { p256: 'P-256', p384: 'P-384', p224: 'P-224', secp256k1: 'secp256k1', p521: 'P-521' } as const;
  let pair: KeyPair;
  if (spec in curves) pair = generateKeyPairSync('ec', { namedCurve: curves[spec as keyof typeof curves] });
  else if (spec === 'rsa1024') pair = generateKeyPairSync('rsa', { modulusLength: 1024 });
  else if (spec === 'rsa2048') pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  else if (spec === 'rsa2052') pair = generateKeyPairSync('rsa', { modulusLength: 2052 });
  else if (spec === 'rsa2048e3') pair = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
  else if (spec === 'ed25519') pair = generateKeyPairSync('ed25519');
  else if (spec === 'ed448') pair = generateKeyPairSync('ed448');
  else if (spec === 'rsapss') pair = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
  else pair = generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 });
  keyCache.set(spec, pair);
  return pair;
}

export const spkiOf = (k: KeyObject) => Uint8Array.from(k.export({ format: 'der', type: 'spki' }));

export interface Signer {
  algId: Uint8Array;
  sign(tbs: Uint8Array): Uint8Array;
}

type Hash = 'sha256' | 'sha384' | 'sha512';
const HASH_OID: Record<Hash, string> = { sha256: '2.16.840.1.101.3.4.2.1', sha384: '2.16.840.1.101.3.4.2.2', sha512: '2.16.840.1.101.3.4.2.3' };
const ECDSA_OID: Record<Hash, string> = { sha256: '1.2.840.10045.4.3.2', sha384: '1.2.840.10045.4.3.3', sha512: '1.2.840.10045.4.3.4' };
const RSA_OID: Record<Hash, string> = { sha256: '1.2.840.113549.1.1.11', sha384: '1.2.840.113549.1.1.12', sha512: '1.2.840.113549.1.1.13' };

export const signers = {
  ecdsa: (k: KeyObject, hash: Hash = 'sha256'): Signer => ({
    algId: seq(oid(ECDSA_OID[hash])),
    sign: (tbs) => sign(hash, tbs, { key: k, dsaEncoding: 'der' }),
  }),
  rsa: (k: KeyObject, hash: Hash = 'sha256', { absentNull = false } = {}): Signer => ({
    algId: seq(oid(RSA_OID[hash]), ...(absentNull ? [] : [nul()])),
    sign: (tbs) => sign(hash, tbs, k),
  }),
  pss: (k: KeyObject, hash: Hash = 'sha256', saltLength = { sha256: 32, sha384: 48, sha512: 64 }[hash]): Signer => {
    const hashId = seq(oid(HASH_OID[hash]), nul());
    // DER leaves out a DEFAULT value: salt length 20 is not written.
    const salt = saltLength === 20 ? [] : [tlv(0xa2, int(saltLength))];
    const params = seq(tlv(0xa0, hashId), tlv(0xa1, seq(oid('1.2.840.113549.1.1.8'), hashId)), ...salt);
    return {
      algId: seq(oid('1.2.840.113549.1.1.10'), params),
      sign: (tbs) => sign(hash, tbs, { key: k, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength }),
    };
  },
  ed25519: (k: KeyObject): Signer => ({ algId: seq(oid('1.3.101.112')), sign: (tbs) => sign(null, tbs, k) }),
  /** Any AlgorithmIdentifier, signing with `hash` (md5, sha1, sha224 …) in Node. */
  raw: (algId: Uint8Array, k: KeyObject, hash: string | null, opts: { dsaEncoding?: 'der' } = {}): Signer => ({
    algId,
    sign: (tbs) => sign(hash, tbs, { key: k, ...opts }),
  }),
};

export interface CsrSpec {
  subject?: Uint8Array;
  /** The SPKI to put in the CSR; by default the signing key pair's own. */
  spki?: Uint8Array;
  /** The [0] attributes field, or null to leave it out. */
  attributes?: Uint8Array | null;
  version?: Uint8Array;
  keyPair?: KeyPair;
  signer?: Signer;
  /** Rewrites the finished CertificationRequestInfo before signing. */
  tamperInfo?: (info: Uint8Array) => Uint8Array;
  /** Rewrites the signature value. */
  tamperSignature?: (sig: Uint8Array) => Uint8Array;
}

export function buildCsr(spec: CsrSpec = {}): Uint8Array {
  const pair = spec.keyPair ?? key('p256');
  const signer = spec.signer ?? signers.ecdsa(pair.privateKey);
  const attributes = spec.attributes === undefined ? extensionRequest(san(gn.dns('svc.example'))) : spec.attributes;
  let info = seq(spec.version ?? int(0), spec.subject ?? cnName('svc.example'), spec.spki ?? spkiOf(pair.publicKey), ...(attributes ? [attributes] : []));
  if (spec.tamperInfo) info = spec.tamperInfo(info);
  let signature: Uint8Array = Uint8Array.from(signer.sign(info));
  if (spec.tamperSignature) signature = spec.tamperSignature(signature);
  return seq(info, signer.algId, bits(signature));
}

export function pem(der: Uint8Array, label = 'CERTIFICATE REQUEST'): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

// ---- openssl ----------------------------------------------------------------------------------------------------

export function tempDir(prefix: string): string {
  return mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), `${prefix}-`));
}

/** Runs openssl in `dir` (throws on a non-zero exit). */
export function openssl(dir: string, args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export const readIn = (dir: string, file: string) => readFileSync(join(dir, file));
export const privateKeyIn = (dir: string, file: string) => createPrivateKey(readIn(dir, file));

// ---- assertions -------------------------------------------------------------------------------------------------

/** Strings planted in test CSRs' names: an error message must never repeat them. */
export const MARKERS = ['svc.example', 'evil', 'SMUGGLE'];

export interface Refusal {
  error: CsrError;
  ms: number;
}

/** parseCsr must refuse `input` with `code`; the message must be printable ASCII quoting none of the input. */
export function expectRefusal(input: string | Uint8Array, code: CsrErrorCode, opts: ParseCsrOptions = {}): Refusal {
  const t0 = performance.now();
  let result: ParsedCsr | undefined;
  let error: unknown;
  try {
    result = parseCsr(input, opts);
  } catch (e) {
    error = e;
  }
  const ms = performance.now() - t0;
  expect(result, 'parseCsr accepted it').toBeUndefined();
  expect(error).toBeInstanceOf(CsrError);
  const e = error as CsrError;
  expect({ code: e.code, message: e.message }).toEqual({ code, message: expect.any(String) });
  expectSafeMessage(e.message, input);
  return { error: e, ms };
}

export function expectSafeMessage(message: string, input: string | Uint8Array): void {
  expect(message).toMatch(/^[\x20-\x7e]{1,200}$/);
  for (const m of MARKERS) expect(message).not.toContain(m);
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
  if (text.length >= 8) expect(message).not.toContain(text);
  // No run of 12 characters of the input (base64 lines, hex, names) turns up in the message.
  const b64 = typeof input === 'string' ? input : Buffer.from(input).toString('base64');
  const hex = Buffer.from(typeof input === 'string' ? Buffer.from(input) : input).toString('hex');
  for (const source of [text, b64, hex]) {
    for (let i = 0; i + 12 <= Math.min(source.length, 4096); i += 6) {
      const piece = source.slice(i, i + 12);
      if (/^[A-Za-z0-9+/]{12}$/.test(piece) && !/^[a-z ]+$/i.test(piece)) expect(message).not.toContain(piece);
    }
  }
}

/** The children of a DER SEQUENCE as raw TLVs (for a CSR: info, signature algorithm, signature). */
export function partsOf(der: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2; at < der.length; ) {
    const l = der[at + 1]!;
    const n = l & 0x80 ? l & 0x7f : 0;
    let len = n ? 0 : l;
    for (let i = 0; i < n; i++) len = len * 256 + der[at + 2 + i]!;
    out.push(der.subarray(at, at + 2 + n + len));
    at += 2 + n + len;
  }
  return out;
}

/** `der` with the first occurrence of `from` replaced by `to` (same length). */
export function replaceBytes(der: Uint8Array, from: string, to: string): Uint8Array {
  const s = Buffer.from(der).toString('latin1');
  if (from.length !== to.length || !s.includes(from)) throw new Error('replaceBytes: no such bytes, or a length change');
  return Uint8Array.from(Buffer.from(s.replace(from, to), 'latin1'));
}
