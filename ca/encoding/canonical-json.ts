/**
 * Canonical JSON (RFC 8785, JCS) for what the transcript hashes and signs: object keys sorted by UTF-16 code
 * units, no whitespace, strings and numbers serialised exactly as ECMAScript's JSON.stringify does (which is what
 * RFC 8785 specifies). One value has exactly one encoding, so a verifier re-derives the signed bytes from the parsed
 * entry and nothing depends on how a JSON library happened to format it.
 *
 * Stricter than JSON.stringify, which silently drops or rewrites what JSON cannot hold: `undefined`, functions,
 * symbols, bigints, NaN and ±Infinity, lone UTF-16 surrogates, sparse arrays, cycles, and anything that is not a
 * plain object or array (Date, Buffer, Map, class instances, objects with toJSON) are refused with the path to the
 * offending value.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The canonical encoding of `value` as a string (UTF-8 encode it for the bytes). */
export function canonicalJson(value: unknown): string {
  return encode(value, '$', new Set());
}

/** The canonical encoding as UTF-8 bytes: what is hashed and signed. */
export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

function encode(value: unknown, path: string, stack: Set<object>): string {
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new CanonicalJsonError(`${path} is a string with a lone UTF-16 surrogate`);
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${path} is ${value}, which JSON cannot represent`);
      // ECMAScript Number serialisation is RFC 8785's; -0 becomes 0 as the RFC requires.
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      throw new CanonicalJsonError(`${path} is undefined`);
    case 'bigint':
    case 'function':
    case 'symbol':
      throw new CanonicalJsonError(`${path} is a ${typeof value}, which is not a JSON type`);
    case 'object':
      break;
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (stack.has(obj)) throw new CanonicalJsonError(`${path} refers back to itself`);
  stack.add(obj);
  try {
    if (Array.isArray(obj)) {
      const parts: string[] = [];
      for (let i = 0; i < obj.length; i++) {
        if (!(i in obj)) throw new CanonicalJsonError(`${path}[${i}] is a hole in a sparse array`);
        parts.push(encode(obj[i], `${path}[${i}]`, stack));
      }
      return `[${parts.join(',')}]`;
    }
    const proto = Object.getPrototypeOf(obj) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const kind = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'non-plain object';
      throw new CanonicalJsonError(`${path} is a ${kind}, not a plain object`);
    }
    if (Object.getOwnPropertySymbols(obj).length > 0) throw new CanonicalJsonError(`${path} has symbol keys`);
    // Default sort compares UTF-16 code units: exactly RFC 8785's key order.
    const keys = Object.keys(obj).sort();
    const parts = keys.map((k) => {
      if (LONE_SURROGATE.test(k)) throw new CanonicalJsonError(`${path} has a key with a lone UTF-16 surrogate`);
      return `${JSON.stringify(k)}:${encode((obj as Record<string, unknown>)[k], `${path}.${k}`, stack)}`;
    });
    return `{${parts.join(',')}}`;
  } finally {
    stack.delete(obj);
  }
}
