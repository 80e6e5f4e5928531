/**
 * URI SANs (SPIFFE IDs, URNs, https URLs), validated and normalized. Normalization lowercases the scheme and the
 * host (both case-insensitive, RFC 3986 §6.2.2.1) and nothing else.
 *
 * Refused (bad_name): no scheme (`example.org/x`, `//host/x`); NUL and other controls, spaces, raw non-ASCII (IRIs
 * must be percent-encoded into URIs); characters RFC 3986 does not allow (`"<>\^`{|}`) and `%` not followed by two
 * hex digits; commas (legal in RFC 3986 but never in a sane identity URI, and a way to smuggle a second name
 * through text forms); userinfo (`spiffe://example.org@evil.example/`: the host is evil.example, which readers
 * get wrong); an empty host after `//`; dot segments (`/./`, `/../`, percent-encoded too) and encoded `/` or `\`
 * (`%2f`, `%5c`), which would let a path climb out of a prefix rule once a relying party decodes it; more than
 * 2048 characters; and anything WHATWG `new URL()` (what ca/x509's URI builder checks with) does not parse.
 */
import { accept, firstControl, hasNonAscii, refuse, type Parsed } from './parsed.ts';

export interface UriName {
  /** Normalized: scheme and host lowercased. */
  uri: string;
  scheme: string;
  /** Lowercased host when the URI has an authority (`scheme://host…`), else undefined. */
  host: string | undefined;
}

const MAX_URI = 2048;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const URI_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+;=%]*$/;
const HOST = /^([a-z0-9._~!$&'()*+;=-]|%[0-9a-f]{2})+$|^\[[0-9a-f:.]+\]$/;

export function parseUriName(input: unknown): Parsed<UriName> {
  if (typeof input !== 'string') return refuse('not a string');
  if (input.length === 0) return refuse('empty URI');
  if (input.length > MAX_URI) return refuse(`longer than ${MAX_URI} characters`);
  const control = firstControl(input);
  if (control) return refuse(`contains the control character ${control}`);
  if (hasNonAscii(input)) return refuse('raw non-ASCII characters: percent-encode them');
  if (input.includes(',')) return refuse('contains a comma: one SAN entry is one name');
  if (/\s/.test(input)) return refuse('contains whitespace');
  const m = SCHEME.exec(input);
  if (!m) return refuse('no scheme (expected scheme:…, e.g. spiffe://trust.domain/path)');
  const odd = /[^A-Za-z0-9\-._~:/?#[\]@!$&'()*+;=%]/.exec(input);
  if (odd || !URI_CHARS.test(input)) return refuse(`character "${odd?.[0] ?? '?'}" is not allowed in a URI (RFC 3986)`);
  if (/%(?![0-9A-Fa-f]{2})/.test(input)) return refuse('"%" not followed by two hex digits');
  if (/%2f|%5c/i.test(input)) return refuse('percent-encoded "/" or "\\" in a URI');

  const scheme = m[1]!.toLowerCase();
  let rest = input.slice(m[0].length);
  if (rest.length === 0) return refuse('nothing after the scheme');
  let host: string | undefined;
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    const authority = end < 0 ? rest.slice(2) : rest.slice(2, 2 + end);
    if (authority.includes('@')) return refuse('userinfo ("…@") in the authority');
    const colon = authority.startsWith('[') ? authority.indexOf(':', authority.indexOf(']')) : authority.lastIndexOf(':');
    const hostText = (colon < 0 ? authority : authority.slice(0, colon)).toLowerCase();
    const port = colon < 0 ? '' : authority.slice(colon + 1);
    if (hostText.length === 0) return refuse('empty host');
    if (!HOST.test(hostText)) return refuse(`host "${hostText}" is not a host name or bracketed IP literal`);
    if (colon >= 0 && !/^[0-9]{1,5}$/.test(port)) return refuse(`port "${port}" is not a number`);
    host = hostText;
    rest = `//${hostText}${colon < 0 ? '' : `:${port}`}${end < 0 ? '' : rest.slice(2 + end)}`;
  }
  const path = rest.replace(/^\/\/[^/?#]*/, '').split(/[?#]/)[0]!;
  for (const segment of path.split('/')) {
    const decoded = segment.replace(/%2e/gi, '.');
    if (decoded === '.' || decoded === '..') return refuse('dot segment ("." or "..") in the path');
  }
  const uri = `${scheme}:${rest}`;
  try {
    new URL(uri);
  } catch {
    return refuse('does not parse as a URL');
  }
  if ((scheme === 'http' || scheme === 'https') && !host) return refuse('http(s) URI without a host');
  return accept({ uri, scheme, host });
}
