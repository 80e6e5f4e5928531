/**
 * URI rules: a prefix ending in "/" (`spiffe://example.org/` — that URI and everything under it) or, otherwise, one
 * exact URI (`spiffe://example.org/ns/prod/sa/api`). A prefix must end in "/" so that it stops at a boundary:
 * `spiffe://example.org` as a prefix would also match `spiffe://example.org.evil.example/…`, so it is an exact
 * rule instead. Rules are parsed with the same rules as requested URIs and matched on normalized text, so the
 * scheme's and host's case does not matter and dot segments cannot climb out of a prefix (they are refused).
 */
import { accept, refuse, type Parsed } from './parsed.ts';
import { parseUriName, type UriName } from './uri-name.ts';

export interface UriRule {
  text: string;
  prefix: boolean;
}

export function parseUriRule(text: unknown): Parsed<UriRule> {
  const r = parseUriName(text);
  if (!r.ok) return refuse(r.why);
  if (/[?#]/.test(r.value.uri)) return refuse('a URI rule has no query or fragment');
  return accept({ text: r.value.uri, prefix: r.value.uri.endsWith('/') });
}

export function uriRuleMatches(rule: UriRule, name: UriName): boolean {
  return rule.prefix ? name.uri.startsWith(rule.text) : name.uri === rule.text;
}
