/**
 * PKCS#11 URIs (RFC 7512) naming a token and a key: `pkcs11:token=strongroom;object=issuing-ca`.
 * Only what Strongroom addresses keys by is accepted; `pin-value` is refused because a PIN in a URI ends up in
 * configs, shell history and logs.
 */
export interface Pkcs11Uri {
  token?: string;
  serial?: string;
  object?: string;
  /** CKA_ID as lowercase hex. */
  id?: string;
  type?: 'private' | 'public' | 'cert' | 'secret-key' | 'data';
  pinSource?: string;
  modulePath?: string;
}

const PATH_ATTRS = new Set(['token', 'serial', 'object', 'id', 'type', 'manufacturer', 'model', 'library-manufacturer', 'library-description', 'library-version', 'slot-description', 'slot-manufacturer', 'slot-id']);
const QUERY_ATTRS = new Set(['pin-source', 'module-path', 'module-name']);

export class Pkcs11UriError extends Error {
  override readonly name = 'Pkcs11UriError';
}

function decode(value: string, attr: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new Pkcs11UriError(`bad percent-encoding in "${attr}"`);
  }
}

function decodeBytes(value: string): string {
  // id is a byte string: percent-encoded bytes (any other character is itself a byte).
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '%') {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Pkcs11UriError('bad percent-encoding in "id"');
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      // A literal stands for its own byte, so only printable ASCII can appear unencoded.
      const c = value.charCodeAt(i);
      if (c < 0x21 || c > 0x7e) throw new Pkcs11UriError('bad character in "id": percent-encode its bytes');
      bytes.push(c);
    }
  }
  return Buffer.from(bytes).toString('hex');
}

export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (!text.startsWith('pkcs11:')) throw new Pkcs11UriError('a PKCS#11 URI starts with "pkcs11:"');
  const rest = text.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const path = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q + 1);
  const uri: Pkcs11Uri = {};
  const seen = new Set<string>();
  const parts = [
    ...(path ? path.split(';').map((p) => ['path', p] as const) : []),
    ...(query ? query.split('&').map((p) => ['query', p] as const) : []),
  ];
  for (const [where, part] of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Pkcs11UriError(`malformed attribute "${part}"`);
    const attr = part.slice(0, eq).toLowerCase();
    const raw = part.slice(eq + 1);
    if (attr === 'pin-value') throw new Pkcs11UriError('pin-value is not accepted: give the PIN by file, environment or prompt');
    const known = where === 'path' ? PATH_ATTRS : QUERY_ATTRS;
    if (!known.has(attr)) throw new Pkcs11UriError(`unknown ${where} attribute "${attr}"`);
    if (seen.has(attr)) throw new Pkcs11UriError(`attribute "${attr}" given twice`);
    seen.add(attr);
    switch (attr) {
      case 'token':
        uri.token = decode(raw, attr);
        break;
      case 'serial':
        uri.serial = decode(raw, attr);
        break;
      case 'object':
        uri.object = decode(raw, attr);
        break;
      case 'id':
        uri.id = decodeBytes(raw);
        break;
      case 'type': {
        const t = decode(raw, attr);
        if (!['private', 'public', 'cert', 'secret-key', 'data'].includes(t)) throw new Pkcs11UriError(`unknown type "${t}"`);
        uri.type = t as Pkcs11Uri['type'];
        break;
      }
      case 'pin-source':
        uri.pinSource = decode(raw, attr);
        break;
      case 'module-path':
        uri.modulePath = decode(raw, attr);
        break;
      default:
        // Recognised but not used for selection (manufacturer, model, ...): accepted and ignored.
        break;
    }
  }
  return uri;
}

function encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function formatPkcs11Uri(uri: Pkcs11Uri): string {
  const path: string[] = [];
  if (uri.token !== undefined) path.push(`token=${encode(uri.token)}`);
  if (uri.serial !== undefined) path.push(`serial=${encode(uri.serial)}`);
  if (uri.object !== undefined) path.push(`object=${encode(uri.object)}`);
  if (uri.id !== undefined) path.push(`id=${uri.id.replace(/(..)/g, '%$1')}`);
  if (uri.type !== undefined) path.push(`type=${uri.type}`);
  const query: string[] = [];
  if (uri.pinSource !== undefined) query.push(`pin-source=${encode(uri.pinSource)}`);
  if (uri.modulePath !== undefined) query.push(`module-path=${encode(uri.modulePath)}`);
  return `pkcs11:${path.join(';')}${query.length ? `?${query.join('&')}` : ''}`;
}
