/**
 * Distinguished names from a structured subject. One attribute per RDN (no multi-valued RDNs: their SET ordering
 * is where encoders disagree), string types per RFC 5280 §4.1.2.4 / Appendix A: countryName and serialNumber are
 * PrintableString, domainComponent IA5String, everything else UTF8String. Upper bounds are RFC 5280's ub-* values.
 *
 * Chaining compares names byte for byte, so a child certificate's issuer must be copied from the issuer
 * certificate's subject (see issuerNameOf), never rebuilt from the same spec.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509';
import { bytesEqual, encodeTlv, encodeTlvOf, toBytes } from './der.ts';
import { X509Error } from './errors.ts';
import { oidDer } from './oid.ts';

export type NameAttributeType = 'DC' | 'C' | 'ST' | 'L' | 'street' | 'O' | 'OU' | 'CN' | 'serialNumber';

interface AttributeRule {
  oid: string;
  encoding: 'printable' | 'utf8' | 'ia5';
  max: number;
  pattern?: RegExp;
}

const ATTRIBUTES: Record<NameAttributeType, AttributeRule> = {
  DC: { oid: '0.9.2342.19200300.100.1.25', encoding: 'ia5', max: 63, pattern: /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/ },
  C: { oid: '2.5.4.6', encoding: 'printable', max: 2, pattern: /^[A-Z]{2}$/ },
  ST: { oid: '2.5.4.8', encoding: 'utf8', max: 128 },
  L: { oid: '2.5.4.7', encoding: 'utf8', max: 128 },
  street: { oid: '2.5.4.9', encoding: 'utf8', max: 128 },
  O: { oid: '2.5.4.10', encoding: 'utf8', max: 64 },
  OU: { oid: '2.5.4.11', encoding: 'utf8', max: 64 },
  CN: { oid: '2.5.4.3', encoding: 'utf8', max: 64 },
  serialNumber: { oid: '2.5.4.5', encoding: 'printable', max: 64 },
};

/** The order the object form is written in: most significant first, as OpenSSL and most CAs write it. */
const ORDER: NameAttributeType[] = ['DC', 'C', 'ST', 'L', 'street', 'O', 'OU', 'CN', 'serialNumber'];

export type SubjectFields = Partial<Record<NameAttributeType, string | readonly string[]>>;
/** Either named fields (written in a fixed order) or an explicit ordered list of [type, value]. */
export type SubjectSpec = SubjectFields | ReadonlyArray<readonly [NameAttributeType, string]>;

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
// C0 and C1 controls and DEL: legal in UTF8String, but never intended in a DN and a classic spoofing tool.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** DER kept with Names that are never modified (sealName, buildName): made once, returned by nameDer. */
const sealed = new WeakMap<Name, Uint8Array>();

export function buildName(spec: SubjectSpec, { requireNonEmpty = false } = {}): Name {
  const pairs: [NameAttributeType, string][] = Array.isArray(spec)
    ? spec.map(([t, v]) => [t, v])
    : ORDER.flatMap((t) => {
        const v = (spec as SubjectFields)[t];
        return v === undefined ? [] : (typeof v === 'string' ? [v] : v).map((x): [NameAttributeType, string] => [t, x]);
      });
  if (!Array.isArray(spec)) {
    const unknown = Object.keys(spec).filter((k) => !(k in ATTRIBUTES));
    if (unknown.length) throw new X509Error('invalid-input', `unknown name attributes: ${unknown.join(', ')}`);
  }
  if (requireNonEmpty && pairs.length === 0) throw new X509Error('invalid-input', 'a CA certificate needs a non-empty subject');
  const name = new Name(pairs.map(([type, value]) => new RelativeDistinguishedName([attribute(type, value)])));
  // Every certificate's subject is built here: its DER is written directly (the schema library took ~50 µs for a
  // one-attribute name) and sealed with the object. Tests hold the two encodings byte-equal.
  const der = encodeTlvOf(0x30, pairs.map(([type, value]) => encodeTlv(0x31, attributeDer(ATTRIBUTES[type], value))));
  sealed.set(name, der);
  return Object.freeze(name);
}

const STRING_TAGS = { printable: 0x13, ia5: 0x16, utf8: 0x0c } as const;

/** AttributeTypeAndValue of a value `attribute` has checked. */
function attributeDer(rule: AttributeRule, value: string): Uint8Array {
  return encodeTlvOf(0x30, [oidDer(rule.oid), encodeTlv(STRING_TAGS[rule.encoding], Buffer.from(value, 'utf8'))]);
}

function attribute(type: NameAttributeType, value: string): AttributeTypeAndValue {
  const rule = ATTRIBUTES[type];
  if (!rule) throw new X509Error('invalid-input', `unknown name attribute ${String(type)}`);
  const fail = (why: string) => new X509Error('invalid-input', `${type}=${JSON.stringify(value)}: ${why}`);
  if (typeof value !== 'string' || value.length === 0) throw fail('empty');
  if ([...value].length > rule.max) throw fail(`longer than ${rule.max} characters`);
  if (value.trim() !== value) throw fail('leading or trailing whitespace');
  if (CONTROL.test(value)) throw fail('control characters');
  if (rule.pattern && !rule.pattern.test(value)) throw fail('not in the allowed form');
  if (rule.encoding === 'printable' && !PRINTABLE.test(value)) throw fail('characters outside PrintableString');
  const v =
    rule.encoding === 'printable'
      ? new AttributeValue({ printableString: value })
      : rule.encoding === 'ia5'
        ? new AttributeValue({ ia5String: value })
        : new AttributeValue({ utf8String: value });
  return new AttributeTypeAndValue({ type: rule.oid, value: v });
}

/**
 * Marks a Name that is shared and never modified (an issuer's, used for every certificate it issues): its DER is
 * made once here and nameDer returns it from then on. Freezing the object keeps the promise honest.
 */
export function sealName(name: Name): Name {
  if (!sealed.has(name)) sealed.set(name, toBytes(AsnConvert.serialize(name)));
  return Object.freeze(name);
}

/** The Name's DER: a fresh encoding, or a sealed Name's kept one (shared; callers must not modify it). */
export function nameDer(name: Name): Uint8Array {
  return sealed.get(name) ?? toBytes(AsnConvert.serialize(name));
}

/** RFC 5280 name chaining is binary comparison here: stricter than §7.1's matching rules, and unambiguous. */
export function namesEqual(a: Name, b: Name): boolean {
  return bytesEqual(nameDer(a), nameDer(b));
}

export function isEmptyName(name: Name): boolean {
  return name.length === 0;
}

const SHORT: Record<string, string> = Object.fromEntries(Object.entries(ATTRIBUTES).map(([k, r]) => [r.oid, k]));

/** RFC 4514 string (least significant RDN first, like OpenSSL's -nameopt RFC2253) for logs and the database. */
export function nameToString(name: Name): string {
  return [...name]
    .reverse()
    .map((rdn) =>
      [...rdn]
        .map((atv) => `${SHORT[atv.type] ?? atv.type}=${escape(atv.value.toString())}`)
        .join('+'),
    )
    .join(',');
}

function escape(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}
