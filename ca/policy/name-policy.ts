/**
 * The name policy: may a certificate carry the names a CSR asks for?
 *
 *   decideNames(request, ruleSets, options) → { ok: true, names, cn?, droppedCn? }
 *                                          | { ok: false, code: 'bad_name' | 'forbidden_name', detail }
 *
 * In this order, stopping at the first problem:
 *   1. more names than options.maxNames → forbidden_name (checked before any parsing, to bound the work);
 *   2. every SAN parsed and normalized (dns-name.ts, ip-address.ts, uri-name.ts, email-name.ts) → bad_name for
 *      the first malformed one; duplicates after normalization are merged;
 *   3. the CN: kept when it equals a DNS or IP SAN, otherwise dropped and reported (common-name.ts); a CN with a
 *      control character → bad_name;
 *   4. options.requireSan and no SAN → forbidden_name;
 *   5. a wildcard DNS SAN when options.wildcards is false → forbidden_name;
 *   6. every name against every rule set — the profile's and the client's grant: ALL must allow each name
 *      (rule-set.ts: deny by default) → forbidden_name naming the name and the set that refused it.
 *      No rule set at all is deny-all, never allow-all.
 *
 * bad_name is about the text of a name (HTTP 400); forbidden_name about a well-formed name the profile or grant
 * does not allow (HTTP 403). Details quote names JSON-escaped and truncated; they are safe to return to the client.
 */
import { resolveCommonName } from './common-name.ts';
import { parseDnsName, type DnsName } from './dns-name.ts';
import { parseEmailName } from './email-name.ts';
import { parseIpAddress } from './ip-address.ts';
import { shown, type Parsed } from './parsed.ts';
import { NAME_TYPES, ruleSetAllows, type NameType, type ParsedName, type RuleSet } from './rule-set.ts';
import { parseUriName } from './uri-name.ts';

/** What the CSR asks for. IP SANs as text or as the iPAddress octets from the CSR. */
export interface NameRequest {
  dns?: readonly string[];
  ip?: readonly (string | Uint8Array)[];
  uri?: readonly string[];
  email?: readonly string[];
  /** The subject CN of the CSR, if any. */
  cn?: string;
}

/** A rule set and who it belongs to, for the error detail: "profile tls-server", "grant build-bot". */
export interface PolicyRuleSet {
  source: string;
  rules: RuleSet;
}

export interface NamePolicyOptions {
  /** The profile allows wildcard certificates (`*.a.example` as a DNS SAN). */
  wildcards: boolean;
  /** The profile requires at least one SAN. */
  requireSan: boolean;
  /** The most SANs one certificate may carry. */
  maxNames: number;
}

/** Normalized SANs, as they go into the certificate (ca/x509 subjectAltName). */
export interface NormalizedNames {
  dns: string[];
  ip: string[];
  uri: string[];
  email: string[];
}

export type NameErrorCode = 'bad_name' | 'forbidden_name';

export type NameDecision =
  | {
      ok: true;
      names: NormalizedNames;
      /** The CN to put in the subject: one of the SANs, normalized. */
      cn?: string;
      /** The CSR's CN, when it was not kept, and why. */
      droppedCn?: { value: string; reason: string };
    }
  | { ok: false; code: NameErrorCode; detail: string };

const LABEL: Record<NameType, string> = { dns: 'DNS SAN', ip: 'IP SAN', uri: 'URI SAN', email: 'email SAN' };

export function decideNames(request: NameRequest, ruleSets: readonly PolicyRuleSet[], options: NamePolicyOptions): NameDecision {
  const bad = (detail: string): NameDecision => ({ ok: false, code: 'bad_name', detail });
  const forbidden = (detail: string): NameDecision => ({ ok: false, code: 'forbidden_name', detail });

  let count = 0;
  for (const type of NAME_TYPES) {
    const list = request[type];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return bad(`${LABEL[type]}s: not a list`);
    count += list.length;
  }
  if (count > options.maxNames) return forbidden(`${count} SANs requested; at most ${options.maxNames} allowed`);

  const dns = parseAll(request.dns, parseDnsNameForSan, (n) => n.name);
  if (!dns.ok) return bad(`${LABEL.dns} ${dns.why}`);
  const ip = parseAll(request.ip, parseIpAddress, (n) => n.text);
  if (!ip.ok) return bad(`${LABEL.ip} ${ip.why}`);
  const uri = parseAll(request.uri, parseUriName, (n) => n.uri);
  if (!uri.ok) return bad(`${LABEL.uri} ${uri.why}`);
  const email = parseAll(request.email, parseEmailName, (n) => n.address);
  if (!email.ok) return bad(`${LABEL.email} ${email.why}`);

  let cn: string | undefined;
  let droppedCn: { value: string; reason: string } | undefined;
  if (request.cn !== undefined) {
    if (typeof request.cn !== 'string') return bad('CN: not a string');
    const r = resolveCommonName(request.cn, { dns: dns.value, ip: ip.value });
    if (!r.ok) return bad(`CN ${shown(request.cn)}: ${r.why}`);
    if ('cn' in r.value) cn = r.value.cn;
    else droppedCn = r.value.dropped;
  }

  const all: ParsedName[] = [
    ...dns.value.map((name): ParsedName => ({ type: 'dns', name })),
    ...ip.value.map((name): ParsedName => ({ type: 'ip', name })),
    ...uri.value.map((name): ParsedName => ({ type: 'uri', name })),
    ...email.value.map((name): ParsedName => ({ type: 'email', name })),
  ];
  if (options.requireSan && all.length === 0) return forbidden('at least one SAN is required');
  const wildcard = dns.value.find((d) => d.wildcard);
  if (wildcard && !options.wildcards) return forbidden(`${LABEL.dns} ${shown(wildcard.name)}: wildcard certificates are not allowed by this profile`);

  if (ruleSets.length === 0 && all.length > 0) return forbidden('no rule sets to allow any name (deny by default)');
  for (const n of all) {
    for (const set of ruleSets) {
      const verdict = ruleSetAllows(set.rules, n);
      if (verdict === 'allowed') continue;
      const why = verdict === 'no-rule-of-type' ? `${set.source} allows no ${n.type} names` : `outside ${set.source}`;
      return forbidden(`${LABEL[n.type]} ${shown(textOf(n))}: ${why}`);
    }
  }

  const names: NormalizedNames = {
    dns: dns.value.map((n) => n.name),
    ip: ip.value.map((n) => n.text),
    uri: uri.value.map((n) => n.uri),
    email: email.value.map((n) => n.address),
  };
  return { ok: true, names, ...(cn !== undefined ? { cn } : {}), ...(droppedCn ? { droppedCn } : {}) };
}

function parseDnsNameForSan(input: unknown): Parsed<DnsName> {
  // Wildcards parse here and are judged by policy (step 5 and the rules), so the answer is forbidden_name, not bad_name.
  return parseDnsName(input, { wildcard: true });
}

/** Parses each name, merging duplicates by normalized text; the first malformed one fails the lot. */
function parseAll<T>(list: readonly unknown[] | undefined, parse: (x: unknown) => Parsed<T>, key: (t: T) => string): Parsed<T[]> {
  const out: T[] = [];
  const seen = new Set<string>();
  for (const item of list ?? []) {
    const r = parse(item);
    if (!r.ok) return { ok: false, why: `${item instanceof Uint8Array ? `(${item.length} octets)` : shown(item)}: ${r.why}` };
    const k = key(r.value);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(r.value);
  }
  return { ok: true, value: out };
}

function textOf(n: ParsedName): string {
  switch (n.type) {
    case 'dns':
      return n.name.name;
    case 'ip':
      return n.name.text;
    case 'uri':
      return n.name.uri;
    case 'email':
      return n.name.address;
  }
}
