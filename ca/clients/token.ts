/**
 * Bearer tokens for API clients: `sr_` + 32 CSPRNG bytes in base64url (256 bits). Only their SHA-256 is stored.
 *
 * A plain, fast hash is enough here, unlike for passwords: slow hashes (scrypt, argon2) exist to make guessing a
 * low-entropy secret from its hash expensive, and a 256-bit random token cannot be guessed however fast the hash
 * is. A fast hash also lets the database find the client by the hash itself (a UNIQUE index), so no per-client
 * salt is needed and authentication is one indexed lookup.
 */
import { hash, timingSafeEqual } from 'node:crypto';

export const TOKEN_PREFIX = 'sr_';
export const TOKEN_BYTES = 32;
/** What a token looks like; anything else is refused without a database lookup. */
export const TOKEN_PATTERN = /^sr_[A-Za-z0-9_-]{43}$/;

export function newToken(random: (n: number) => Uint8Array): string {
  const bytes = random(TOKEN_BYTES);
  if (bytes.length !== TOKEN_BYTES) throw new Error(`random source returned ${bytes.length} bytes, not ${TOKEN_BYTES}`);
  return TOKEN_PREFIX + Buffer.from(bytes).toString('base64url');
}

/** Lowercase hex SHA-256 of the token text: what api_clients.token_hash holds. */
export function tokenHash(token: string): string {
  return hash('sha256', token, 'hex');
}

/** Constant-time comparison of two hex hashes (same length by construction; different lengths are simply unequal). */
export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
