/**
 * Reading extensions back out of a TBS for the linters: each known extension parsed, with the problems RFC 5280
 * §4.2 cares about — the same extension twice, a critical one we do not understand, a value that does not parse
 * or is not in DER.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import type { Extension } from '@peculiar/asn1-x509';
import { bytesEqual, toBytes } from './der.ts';

/** Parses an extension value; throws if it is malformed or not DER. */
export type ExtensionParser = (raw: Uint8Array) => object;

/** A parser for an @peculiar ASN.1 class: parse, then insist the value re-encodes to the same bytes. */
export function asn1Parser(type: new () => object): ExtensionParser {
  // Most extensions of an issuer's certificates are the same bytes every time (key usages, AKI, CRL and AIA URLs):
  // values that parsed are kept by content, so a hit answers exactly what parsing those bytes again would. Shared
  // with every caller of the parser: the linters only read them. Bounded, oldest first out.
  const parsed = new Map<string, object>();
  return (raw) => {
    const key = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
    const hit = parsed.get(key);
    if (hit) return hit;
    const value = AsnConvert.parse(raw, type);
    if (!bytesEqual(toBytes(AsnConvert.serialize(value)), raw)) throw new Error('not DER');
    if (parsed.size >= 256) parsed.delete(parsed.keys().next().value!);
    parsed.set(key, value);
    return value;
  };
}

/** One extension as read from DER, its value not yet decoded. */
export interface RawExtension {
  extnID: string;
  critical: boolean;
  /** The extnValue OCTET STRING's contents: the extension's own DER. */
  value: Uint8Array;
}

export type ExtensionProblem = 'extension-duplicate' | 'extension-unknown-critical' | 'extension-malformed';

export interface ParsedExtension<T = object> {
  critical: boolean;
  value: T;
}

export interface ReadExtensions {
  /** OID → the parsed extension (the first one, when duplicated). */
  byOid: Map<string, ParsedExtension>;
  problems: { code: ExtensionProblem; message: string }[];
}

/** Extensions as the schema library parsed them (the CRL lint's input), in the reader's terms. */
export function fromSchema(extensions: readonly Extension[] | undefined): RawExtension[] {
  return (extensions ?? []).map((e) => ({ extnID: e.extnID, critical: e.critical, value: new Uint8Array(e.extnValue.buffer) }));
}

export function readExtensions(extensions: readonly RawExtension[], known: ReadonlyMap<string, ExtensionParser>): ReadExtensions {
  const byOid = new Map<string, ParsedExtension>();
  const seen = new Set<string>();
  const problems: ReadExtensions['problems'] = [];
  for (const ext of extensions) {
    if (seen.has(ext.extnID)) {
      problems.push({ code: 'extension-duplicate', message: `extension ${ext.extnID} appears more than once` });
      continue;
    }
    seen.add(ext.extnID);
    const parse = known.get(ext.extnID);
    if (!parse) {
      // A relying party must reject a certificate with a critical extension it cannot process; so do we.
      if (ext.critical) problems.push({ code: 'extension-unknown-critical', message: `critical extension ${ext.extnID} is not one we can process` });
      continue;
    }
    try {
      byOid.set(ext.extnID, { critical: ext.critical, value: parse(ext.value) });
    } catch (e) {
      problems.push({ code: 'extension-malformed', message: `extension ${ext.extnID}: ${(e as Error).message}` });
    }
  }
  return { byOid, problems };
}

/** Typed access to one parsed extension. */
export function extensionOf<T>(read: ReadExtensions, oid: string): ParsedExtension<T> | undefined {
  return read.byOid.get(oid) as ParsedExtension<T> | undefined;
}
