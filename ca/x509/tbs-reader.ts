/**
 * A TBSCertificate read from its DER for the lint, without the schema library: every field as raw bytes, the
 * times and extensions decoded, and the checks that parsing and re-encoding with the library made — now a
 * linear strict-DER pass plus what a pass over bytes cannot see (DEFAULT values written out, the shape of each
 * field, times in DER form). The library cost ~1.5 ms per certificate for the same verdict.
 *
 * Two ways to fail, as the lint reports them: `malformed` (not a TBSCertificate at all: truncated, wrong fields)
 * and `not-der` (it reads, but is not the one DER encoding of what it says, so not what a verifier re-derives).
 */
import { children, readTlv, type Tlv } from './der.ts';
import type { RawExtension } from './extension-reader.ts';
import { oidString } from './oid.ts';
import { strictDerProblem } from './strict-der.ts';
import { readTime, type RawTime } from './time.ts';

export interface TbsView {
  /** 0 for v1 (version absent), 1 for v2, 2 for v3. */
  version: number;
  /** The serialNumber INTEGER's contents, judged by checkSerial (not by the DER pass). */
  serial: Uint8Array;
  /** The signature AlgorithmIdentifier's DER. */
  signature: Uint8Array;
  issuer: Tlv;
  notBefore: RawTime;
  notAfter: RawTime;
  subject: Tlv;
  spki: Tlv;
  issuerUniqueId: boolean;
  subjectUniqueId: boolean;
  extensions: RawExtension[];
}

export class TbsReadError extends Error {
  constructor(
    readonly problem: 'malformed' | 'not-der',
    message: string,
  ) {
    super(message);
  }
}

const malformed = (why: string) => new TbsReadError('malformed', why);
const notDer = (why: string) => new TbsReadError('not-der', why);

export function readTbsCertificate(der: Uint8Array): TbsView {
  let fields: Tlv[];
  try {
    const top = readTlv(der);
    if (top.bytes.length !== der.length) throw malformed(`${der.length - top.bytes.length} bytes after the TBSCertificate`);
    if (top.tag !== 0x30) throw malformed('not a SEQUENCE');
    fields = children(top);
  } catch (e) {
    if (e instanceof TbsReadError) throw e;
    // readTlv refuses BER too: tell broken framing (not a TBS at all) from a valid but non-DER length.
    const p = strictDerProblem(der);
    throw p && !p.framing ? notDer(`${p.why} at offset ${p.at}`) : malformed((e as Error).message);
  }
  let i = 0;
  let version = 0;
  if (fields[0]?.tag === 0xa0) {
    version = explicitVersion(fields[0]);
    i = 1;
  }
  const [serial, signature, issuer, validity, subject, spki] = fields.slice(i, i + 6);
  if (!spki) throw malformed('too few fields');
  const problem = strictDerProblem(der, { exemptAt: serial!.bytes.byteOffset - der.byteOffset });
  if (problem) throw problem.framing ? malformed(`${problem.why} at offset ${problem.at}`) : notDer(`${problem.why} at offset ${problem.at}`);

  if (serial!.tag !== 0x02) throw malformed('serialNumber is not an INTEGER');
  expectAlgorithm(signature!, 'signature');
  expectName(issuer!, 'issuer');
  const [notBefore, notAfter] = readValidity(validity!);
  expectName(subject!, 'subject');
  expectSpki(spki!);

  let rest = fields.slice(i + 6);
  const take = (tag: number) => (rest[0]?.tag === tag ? ((rest = rest.slice(1)), true) : false);
  const issuerUniqueId = take(0x81);
  const subjectUniqueId = take(0x82);
  const extensions = rest[0]?.tag === 0xa3 ? readExtensionList(rest[0]) : [];
  if (rest[0]?.tag === 0xa3) rest = rest.slice(1);
  if (rest.length) throw malformed(`unexpected field with tag 0x${rest[0]!.tag.toString(16)}`);

  return { version, serial: serial!.content, signature: signature!.bytes, issuer: issuer!, notBefore, notAfter, subject: subject!, spki: spki!, issuerUniqueId, subjectUniqueId, extensions };
}

function explicitVersion(tlv: Tlv): number {
  const inner = children(tlv);
  if (inner.length !== 1 || inner[0]!.tag !== 0x02 || inner[0]!.content.length !== 1) throw malformed('version is not [0] INTEGER');
  const v = inner[0]!.content[0]!;
  if (v > 2) throw malformed(`version ${v + 1} does not exist`);
  // v1 is the DEFAULT: DER leaves it out.
  if (v === 0) throw notDer('version v1 written out');
  return v;
}

function expectAlgorithm(tlv: Tlv, what: string): void {
  if (tlv.tag !== 0x30) throw malformed(`${what}: not an AlgorithmIdentifier`);
  const parts = children(tlv);
  if (parts.length < 1 || parts.length > 2 || parts[0]!.tag !== 0x06) throw malformed(`${what}: not an AlgorithmIdentifier`);
}

/** Name: SEQUENCE OF RelativeDistinguishedName (SET SIZE (1..MAX) OF SEQUENCE { type OID, value ANY }). */
function expectName(tlv: Tlv, what: string): void {
  if (tlv.tag !== 0x30) throw malformed(`${what}: not a Name`);
  for (const rdn of children(tlv)) {
    const atvs = rdn.tag === 0x31 ? children(rdn) : [];
    if (atvs.length === 0) throw malformed(`${what}: not a Name`);
    for (const atv of atvs) {
      const parts = atv.tag === 0x30 ? children(atv) : [];
      if (parts.length !== 2 || parts[0]!.tag !== 0x06) throw malformed(`${what}: not a Name`);
    }
  }
}

function readValidity(tlv: Tlv): [RawTime, RawTime] {
  const times = tlv.tag === 0x30 ? children(tlv) : [];
  if (times.length !== 2) throw malformed('validity is not two times');
  return times.map((t, n) => {
    if (t.tag !== 0x17 && t.tag !== 0x18) throw malformed(`${n ? 'notAfter' : 'notBefore'} is not a Time`);
    const time = readTime(t.tag, t.content);
    if (!time) throw notDer(`${n ? 'notAfter' : 'notBefore'} is not a time in DER form`);
    return time;
  }) as [RawTime, RawTime];
}

function expectSpki(tlv: Tlv): void {
  const parts = tlv.tag === 0x30 ? children(tlv) : [];
  if (parts.length !== 2 || parts[1]!.tag !== 0x03) throw malformed('subjectPublicKeyInfo is not a SubjectPublicKeyInfo');
  expectAlgorithm(parts[0]!, 'subjectPublicKeyInfo algorithm');
}

/** [3] EXPLICIT SEQUENCE SIZE (1..MAX) OF Extension. */
function readExtensionList(tlv: Tlv): RawExtension[] {
  const inner = children(tlv);
  if (inner.length !== 1 || inner[0]!.tag !== 0x30) throw malformed('extensions is not [3] SEQUENCE OF Extension');
  const list = children(inner[0]!);
  if (list.length === 0) throw malformed('extensions present but empty');
  return list.map((ext) => {
    const parts = ext.tag === 0x30 ? children(ext) : [];
    const [id, second, third] = parts;
    const critical = parts.length === 3 ? second : undefined;
    const value = parts.length === 3 ? third : second;
    if (parts.length < 2 || parts.length > 3 || id!.tag !== 0x06 || value!.tag !== 0x04 || (critical && critical.tag !== 0x01)) {
      throw malformed('not an Extension');
    }
    // critical is BOOLEAN DEFAULT FALSE: DER leaves FALSE out.
    if (critical && critical.content[0] !== 0xff) throw notDer(`extension ${oidString(id!.content)}: critical FALSE written out`);
    return { extnID: oidString(id!.content), critical: critical !== undefined, value: value!.content };
  });
}
